/**
 * Profile mode (`--profile CASE`): runs one case with its Node server under `node --cpu-prof`,
 * stops it so the profile is written, and prints where the CPU went: the top functions by self
 * time and the same time grouped by package (node_modules/…), Node internals and gateway files.
 * The .cpuprofile (open it in Chrome DevTools) and a JSON summary stay under .tmp/profiles/.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Options } from './args.js';
import { caseDef, type Lab } from './lab.js';
import type { LoadGenerator } from './load.js';
import { nodeFlags, type Env } from './services.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

/**
 * Functions of the data paths whose inclusive time (with everything they call) is reported:
 * the gateway's steps (server.ts, handler.ts, identity-headers.ts, the forwarders, the token
 * cache and store), and the logging and metrics calls made per request.
 */
const STEPS = [
  'onRequest',
  'requestId',
  'clientIp',
  'handleResource',
  'decide',
  'decideNow',
  'probe',
  'peek',
  'readCredentials',
  'lookup',
  'getAccess',
  'parseToken',
  'authorize',
  'scrub',
  'inject',
  'web',
  'requestHeaders',
  'onResponseStart',
  'responseHeaders',
  'complete',
  'observeRequest',
  'observeUpstream',
  'observeStore',
  'LOG',
  'redact',
  'actualWrite',
];
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly frames: { name: string; ms: number; share: number }[];
  readonly groups: { name: string; ms: number; share: number }[];
  /** Inclusive time of {@link STEPS} found in the profile (each name summed over its files). */
  readonly steps: { name: string; ms: number; share: number }[];
}

function server(id: string): string {
  if (id.startsWith('gw-')) return id.replace(/[~+]/g, '_');
  if (id.startsWith('token-')) return 'gw-token';
  if (id === 'direct') return 'upstream';
  if (id === 'nginx-auth') return 'gw-decision';
  if (id === 'bare-nginx') throw new Error('--profile: nginx is not a Node process');
  return id;
}

function group(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1] as string;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').replace(/\/.*$/, '');
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) return `gateway ${dist[1]}`;
  return url.replace(/^file:\/\/.*\//, '');
}

export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const frames = new Map<string, number>();
  const groups = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const short = url.replace(/^file:\/\/.*\/node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/');
    const key = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
    frames.set(key, (frames.get(key) ?? 0) + us);
    const g = group(url, functionName);
    groups.set(g, (groups.get(g) ?? 0) + us);
  }
  // Inclusive time by function name; a name already on the stack is not counted twice.
  const children = new Map(profile.nodes.map((n) => [n.id, n.children ?? []]));
  const inclusive = new Map<string, number>();
  const walk = (id: number, active: Set<string>): number => {
    const node = byId.get(id);
    if (!node) return 0;
    const name = node.callFrame.functionName;
    const counted = STEPS.includes(name) && !active.has(name);
    if (counted) active.add(name);
    let sum = self.get(id) ?? 0;
    for (const c of children.get(id) ?? []) sum += walk(c, active);
    if (counted) {
      active.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + sum);
    }
    return name === '(idle)' ? 0 : sum;
  };
  if (profile.nodes[0]) walk(profile.nodes[0].id, new Set());
  const list = (m: Map<string, number>, n: number): { name: string; ms: number; share: number }[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, share: total ? us / total : 0 }));
  const steps = STEPS.filter((name) => inclusive.has(name)).map((name) => ({
    name,
    ms: (inclusive.get(name) ?? 0) / 1000,
    share: total ? (inclusive.get(name) ?? 0) / total : 0,
  }));
  return { totalMs: total / 1000, idleMs: idle / 1000, frames: list(frames, top), groups: list(groups, top), steps };
}

export async function runProfile(options: Options, env: Env, gen: LoadGenerator, lab: Lab, log: (l?: string) => void): Promise<number> {
  const id = options.profile ?? '';
  if (!caseDef(id)) throw new Error(`--profile: unknown case ${id}`);
  const why = await lab.unavailable(id);
  if (why) throw new Error(`--profile ${id} cannot run here: ${why}`);
  const name = server(id);
  const dir = join(env.root, '.tmp/profiles', `${id}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  nodeFlags.set(name, ['--cpu-prof', '--cpu-prof-dir', dir]);
  const target = await lab.target(id);
  await target.preflight();
  const spec = { ...target.load, connections: Math.min(options.connections, target.maxConnections ?? Infinity) };
  if (options.warmup > 0) await gen.run({ ...spec, seconds: options.warmup });
  const r = await gen.run({ ...spec, seconds: options.duration });
  log(`profiled ${id}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99Ms.toFixed(2)} ms (under the profiler: slower than a plain run)`);
  const profiled = target.services.find((s) => s.name === name || s.name === `${name}-noldap`);
  for (const child of profiled?.children ?? []) await child.stop(10_000);
  // One profile per thread (the loader hook of the undici variant runs in a worker): take the
  // main thread's (thread id 0 in the file name), else the largest.
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const newest =
    files.find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f)) ??
    files.sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
  if (!newest) throw new Error(`no .cpuprofile written in ${dir} (did ${name} exit on SIGTERM?)`);
  const summary = summarizeProfile(JSON.parse(readFileSync(join(dir, newest), 'utf8')) as CpuProfile);
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify({ case: id, rps: r.rps, p99Ms: r.p99Ms, ...summary }, null, 2)}\n`);
  log(`\nCPU ${summary.totalMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle (warm-up included)`);
  log('\nby group (self time):');
  for (const g of summary.groups.slice(0, 15)) log(`  ${(g.share * 100).toFixed(1).padStart(5)}%  ${g.name}`);
  if (summary.steps.length) {
    log('\ndata-path steps (inclusive time, % of busy CPU):');
    for (const st of summary.steps) log(`  ${(st.share * 100).toFixed(1).padStart(5)}%  ${st.name}`);
  }
  log('\ntop functions (self time):');
  for (const f of summary.frames) log(`  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.name}`);
  log(`\nprofile: ${join(dir, newest)}`);
  return 0;
}
