/**
 * The load generator: wrk (Debian) with bench/wrk/bench.lua, or autocannon in a child process
 * when wrk is missing. Either runs pinned to the load CPU and reports one {@link LoadResult}.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { detectPinning, hasCommand, LOAD_CPU } from './proc.js';

export interface LoadSpec {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly method?: string;
  readonly authorization?: string;
  readonly contentType?: string;
  readonly body?: string;
  /** Paced load: at most this many requests per second over all connections (autocannon overallRate). */
  readonly rate?: number;
  /** Bodies each connection sends in turn instead of `body` (autocannon `requests`). */
  readonly bodies?: readonly string[];
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
  /** Answers with a status outside 2xx/3xx (wrk counts > 399). */
  readonly non2xx: number;
  /** Connect, read, write errors and timeouts. */
  readonly socketErrors: number;
}

export interface LoadGenerator {
  readonly name: 'wrk' | 'autocannon';
  readonly version: string;
  run(spec: LoadSpec): Promise<LoadResult>;
}

/** wrk when installed, else autocannon when it can be imported, else an error saying what to install. */
export function detectLoadGenerator(root: string, prefer?: 'wrk' | 'autocannon'): LoadGenerator {
  const wrk = prefer !== 'autocannon' && hasCommand('wrk', ['--version']);
  if (wrk) return wrkGenerator(root);
  let autocannonDir: string | undefined;
  try {
    autocannonDir = createRequire(join(root, 'package.json')).resolve('autocannon/package.json');
  } catch {
    autocannonDir = undefined;
  }
  if (autocannonDir) return autocannonGenerator(root);
  throw new Error(
    prefer === 'autocannon'
      ? 'autocannon is not installed: npm install --save-exact -D autocannon@8'
      : 'no load generator: install wrk (apt-get install -y wrk) or autocannon (npm install --save-exact -D autocannon@8)',
  );
}

function pinned(command: string, args: string[]): [string, string[]] {
  return detectPinning().enabled ? ['taskset', ['-c', String(LOAD_CPU), command, ...args]] : [command, args];
}

function runForJson(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = pinned(command, args);
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    // A hard bound: the run's own duration plus a margin.
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (!line) {
        reject(new Error(`${command} exited with ${code} and no result:\n${out.slice(-2000)}${err.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>);
    });
  });
}

function toResult(r: Record<string, number>): LoadResult {
  const seconds = (r['durationUs'] ?? 0) / 1e6;
  const requests = r['requests'] ?? 0;
  return {
    requests,
    seconds,
    rps: seconds > 0 ? requests / seconds : 0,
    p50Ms: (r['p50Us'] ?? 0) / 1000,
    p90Ms: (r['p90Us'] ?? 0) / 1000,
    p99Ms: (r['p99Us'] ?? 0) / 1000,
    meanMs: (r['meanUs'] ?? 0) / 1000,
    maxMs: (r['maxUs'] ?? 0) / 1000,
    non2xx: r['non2xx'] ?? 0,
    socketErrors: (r['connectErrors'] ?? 0) + (r['readErrors'] ?? 0) + (r['writeErrors'] ?? 0) + (r['timeouts'] ?? 0),
  };
}

function wrkGenerator(root: string): LoadGenerator {
  const script = join(root, 'bench/wrk/bench.lua');
  if (!existsSync(script)) throw new Error(`missing ${script}`);
  // wrk 4 cannot pace its requests: paced runs go to autocannon.
  const paced = autocannonGenerator(root);
  return {
    name: 'wrk',
    version: 'wrk 4',
    async run(spec) {
      // Nor send a sequence of bodies.
      if (spec.rate !== undefined || spec.bodies !== undefined) return paced.run(spec);
      const env = {
        ...process.env,
        BENCH_METHOD: spec.method ?? 'GET',
        BENCH_BODY: spec.body ?? '',
        BENCH_AUTH: spec.authorization ?? '',
        BENCH_CONTENT_TYPE: spec.contentType ?? '',
      };
      const args = ['-t1', `-c${spec.connections}`, `-d${spec.seconds}s`, '--timeout', '10s', '--latency', '-s', script, spec.url];
      return toResult(await runForJson('wrk', args, env, (spec.seconds + 30) * 1000));
    },
  };
}

function autocannonGenerator(root: string): LoadGenerator {
  const child = join(root, '.tmp/bench/load/autocannon.js');
  return {
    name: 'autocannon',
    version: 'autocannon 8',
    async run(spec) {
      const headers: Record<string, string> = {};
      if (spec.authorization) headers['authorization'] = spec.authorization;
      if (spec.contentType) headers['content-type'] = spec.contentType;
      const arg = JSON.stringify({
        url: spec.url,
        connections: spec.connections,
        duration: spec.seconds,
        method: spec.method ?? 'GET',
        headers,
        body: spec.body,
        timeoutS: 10,
        ...(spec.rate !== undefined ? { rate: spec.rate } : {}),
        ...(spec.bodies ? { bodies: spec.bodies } : {}),
      });
      return toResult(await runForJson(process.execPath, [child, arg], process.env, (spec.seconds + 30) * 1000));
    },
  };
}
