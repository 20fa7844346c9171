/**
 * The npm package, installed outside the checkout (README "Production"): `npm pack` of the
 * repository (its `prepare` compiles dist/), then `npm install -g ./ropc-gateway-<version>.tgz`
 * into a fresh prefix from a fresh directory, and the installed `ropc-gateway` command runs
 * `check-config`, `hash-secret` and `start` there. The package is not on the npm registry, so
 * `npx ropc-gateway` works only inside a clone; this is the way that works anywhere.
 *
 * `npm pack` runs in a copy of the package's files (with the checkout's node_modules linked for
 * tsc), so compiling does not rewrite the dist/ that other tests may be running.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../support/wait-for.js';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  files: string[];
};
const dir = mkdtempSync(join(tmpdir(), 'ropc-npm-package-'));
const prefix = join(dir, 'prefix');
const elsewhere = join(dir, 'elsewhere');
const bin = join(prefix, 'bin', 'ropc-gateway');
let tarball = '';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
async function run(file: string, args: readonly string[], options: { cwd: string; input?: string; timeout?: number }): Promise<Run> {
  const child = execFile(file, args, {
    cwd: options.cwd,
    timeout: options.timeout ?? 300_000,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  if (options.input !== undefined) child.stdin!.end(options.input);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code: code ?? -1, stdout, stderr };
}
async function mustRun(file: string, args: readonly string[], options: { cwd: string; input?: string; timeout?: number }): Promise<Run> {
  const result = await run(file, args, options);
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.code}\n${result.stdout}${result.stderr}`);
  return result;
}

beforeAll(async () => {
  // The package's own files, as npm pack would see them in a clean checkout.
  const staging = join(dir, 'staging');
  mkdirSync(staging);
  for (const entry of ['package.json', 'package-lock.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'src', 'bin', 'config']) {
    cpSync(entry, join(staging, entry), { recursive: true });
  }
  symlinkSync(resolve('node_modules'), join(staging, 'node_modules'), 'dir');
  mkdirSync(elsewhere);
  const packed = await mustRun('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: staging });
  tarball = join(dir, packed.stdout.trim().split('\n').pop()!);
  // From a directory with no package.json around it, as an operator would.
  await mustRun('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tarball], { cwd: elsewhere });
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm pack → npm install -g ./ropc-gateway-<version>.tgz', () => {
  it('packs the compiled code, the CLI and the example config, not the sources or tests', async () => {
    expect(tarball).toBe(join(dir, `${pkg.name}-${pkg.version}.tgz`));
    const listing = (await mustRun('tar', ['-tzf', tarball], { cwd: dir })).stdout.split('\n').filter(Boolean);
    expect(listing).toEqual(
      expect.arrayContaining([
        'package/package.json',
        'package/bin/ropc-gateway.js',
        'package/dist/main.js',
        'package/config/example.yaml',
      ]),
    );
    expect(listing.filter((f) => /^package\/(src|test|bench|helm|node_modules|\.ci)\//.test(f))).toEqual([]);
  });

  it('installs a ropc-gateway command that runs outside the checkout', async () => {
    expect(existsSync(bin)).toBe(true);
    const installed = join(prefix, 'lib', 'node_modules', pkg.name);
    expect(readdirSync(installed).sort()).toEqual(expect.arrayContaining(['bin', 'config', 'dist', 'node_modules', 'package.json']));
    const help = await mustRun(bin, ['help'], { cwd: elsewhere });
    expect(help.stdout).toContain('usage: ropc-gateway <command>');
  });

  it('hashes a secret, checks a configuration and starts the gateway from it', async () => {
    const hash = (await mustRun(bin, ['hash-secret'], { cwd: elsewhere, input: 'op-pw' })).stdout.trim();
    expect(hash).toMatch(/^\$argon2id\$/);
    writeFileSync(join(elsewhere, 'users.yaml'), `users:\n  - username: op\n    passwordHash: "${hash}"\n`);
    const config = join(elsewhere, 'gateway.yaml');
    writeFileSync(
      config,
      [
        'server: { host: 127.0.0.1, port: 0, drainSeconds: 0 }',
        'admin: { host: 127.0.0.1, port: 0 }',
        'store: { type: memory }',
        'upstream: { url: "http://127.0.0.1:9" }',
        'clients: [{ id: app, public: true, scopes: [read], defaultScopes: [read] }]',
        'validators: [{ name: local, type: file, path: users.yaml }]',
        '',
      ].join('\n'),
    );
    expect((await mustRun(bin, ['check-config', '--config', config], { cwd: elsewhere })).stdout).toContain('configuration OK');
    writeFileSync(join(elsewhere, 'bad.yaml'), 'store: { type: nosuch }\n');
    expect((await run(bin, ['check-config', '--config', join(elsewhere, 'bad.yaml')], { cwd: elsewhere })).code).toBe(2);

    const child = spawn(bin, ['start', '--config', config], { cwd: elsewhere, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = once(child, 'exit') as Promise<[number | null]>;
    try {
      const deadline = Date.now() + 30_000;
      while (!output.includes('ropc-gateway listening') && child.exitCode === null && Date.now() < deadline) await sleep(50);
      expect(output).toContain('ropc-gateway listening');
      const { port, adminPort } = JSON.parse(output.split('\n').find((l) => l.includes('ropc-gateway listening'))!) as {
        port: number;
        adminPort: number;
      };
      expect((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status).toBe(200);
      const token = await fetch(`http://127.0.0.1:${port}/as/token.oauth2`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=password&client_id=app&username=op&password=op-pw',
      });
      expect(token.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await exited;
    expect(code).toBe(0);
    expect(output).toContain('stopped');
  }, 120_000);
});
