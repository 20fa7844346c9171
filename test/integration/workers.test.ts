/**
 * `server.workers: 2` (src/cluster/supervisor.ts, docs/deployment.md "Workers") with the real
 * CLI in a child process and a real redis-server: both workers answer on the one public port
 * (their completion lines name their pids), a killed worker is replaced while requests keep
 * passing, /metrics on the one admin port sums the workers' counters, SIGTERM drains both (a
 * slow upstream request in flight completes) and the supervisor exits 0, and the memory store
 * refuses more than one worker. Needs `npm run build` (bin/ropc-gateway.js runs dist/).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/security/password-hash.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { waitFor } from '../support/wait-for.js';

let upstream: Upstream;
let redis: RedisProcess;
let dir: string;
const children: ChildProcess[] = [];
let slowArrived = false;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ropc-workers-'));
  upstream = await startEchoUpstream((req, res) => {
    if (req.url === '/slow') slowArrived = true;
    setTimeout(
      () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`done ${req.url}`);
      },
      req.url === '/slow' ? 2500 : 0,
    ).unref();
  });
  redis = await startRedis();
  writeFileSync(join(dir, 'users.yaml'), stringify({ users: [{ username: 'joe', passwordHash: await hashSecret('joe-pw') }] }));
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await upstream?.close();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function writeConfig(
  name: string,
  overrides: { server?: Record<string, unknown>; store?: Record<string, unknown> } = {},
): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      server: { host: '127.0.0.1', port: 0, workers: 2, drainSeconds: 0, shutdownTimeoutSeconds: 20, ...overrides.server },
      admin: { host: '127.0.0.1', port: 0 },
      store: overrides.store ?? { type: 'redis', redis: { url: redis.url, keyPrefix: `${name}:` } },
      upstream: { url: upstream.url, timeoutMs: 30_000 },
      oauth: { issuer: 'https://gateway.test' },
      clients: [{ id: 'app', secretHash: await hashSecret('app-secret'), scopes: ['read'] }],
      validators: [{ name: 'local', type: 'file', path: 'users.yaml' }],
      routes: [{ path: '/**', auth: 'none' }],
    }),
  );
  return file;
}

interface Cli {
  readonly process: ChildProcess;
  readonly port: number;
  readonly adminPort: number;
  readonly exited: Promise<number | null>;
  logs(): Record<string, unknown>[];
}

async function startCli(file: string): Promise<Cli> {
  const child = spawn(process.execPath, ['bin/ropc-gateway.js', 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const logs = (): Record<string, unknown>[] =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitFor(() => logs().some((l) => l.msg === 'ropc-gateway listening') || child.exitCode !== null, 60_000, 'both workers to listen');
  if (child.exitCode !== null) throw new Error(`the gateway exited: ${stderr}${stdout}`);
  const listening = logs().find((l) => l.msg === 'ropc-gateway listening') as { port: number; adminPort: number };
  return { process: child, port: listening.port, adminPort: listening.adminPort, exited, logs };
}

function get(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    // A new connection each time: the supervisor hands connections to the workers in turn.
    http
      .get({ host: '127.0.0.1', port, path, agent: false, timeout: 15_000 }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error(`GET ${path}: no answer in 15 s`));
      })
      .on('error', reject);
  });
}

function workerPids(cli: Cli): number[] {
  return [
    ...new Set(
      cli
        .logs()
        .filter((l) => l.msg === 'worker listening')
        .map((l) => l.pid as number),
    ),
  ];
}

/** Counter value summed over label sets matching `labels` in Prometheus text. */
function counter(text: string, name: string, labels: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('server.workers: 2', () => {
  it('serves from both workers, replaces a killed one, sums /metrics, and drains both on SIGTERM', async () => {
    const cli = await startCli(await writeConfig('two'));
    const first = workerPids(cli);
    expect(first).toHaveLength(2);
    expect(first).not.toContain(cli.process.pid);
    await expect.poll(async () => (await get(cli.adminPort, '/readyz')).status, { timeout: 20_000, interval: 100 }).toBe(200);

    // Both workers answer on the one port (round-robin over new connections).
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await get(cli.port, `/hello/${i}`));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    await waitFor(() => cli.logs().filter((l) => l.msg === 'request' && l.status === 200).length >= 10, 10_000, 'the completion lines');
    const pids = new Set(
      cli
        .logs()
        .filter((l) => l.msg === 'request' && l.status === 200)
        .map((l) => l.pid),
    );
    expect([...pids].sort()).toEqual([...first].sort());

    // /metrics on the admin port: the requests of both workers, summed.
    const metrics = (await get(cli.adminPort, '/metrics')).text;
    expect(counter(metrics, 'ropc_http_requests_total', 'kind="resource",status="200"')).toBe(10);
    expect(metrics).toMatch(/ropc_workers\{state="listening"\} 2/);

    // A worker killed: once the supervisor has seen it die (a connection handed to it in the
    // instant it died is lost with it, as with any crash), the other keeps answering, and a
    // new one takes the dead one's place.
    const victim = first[0] as number;
    process.kill(victim, 'SIGKILL');
    await waitFor(
      () => cli.logs().some((l) => l.msg === 'worker died; starting another' && l.workerPid === victim),
      10_000,
      'the supervisor to see the death',
    );
    for (let i = 0; i < 5; i++) expect((await get(cli.port, `/after-kill/${i}`)).status).toBe(200);
    await waitFor(() => workerPids(cli).length === 3, 30_000, 'a replacement worker');
    const replacement = workerPids(cli).find((p) => !first.includes(p)) as number;
    await expect.poll(async () => (await get(cli.adminPort, '/readyz')).status, { timeout: 20_000, interval: 100 }).toBe(200);
    const restarted = (await get(cli.adminPort, '/metrics')).text;
    expect(restarted).toMatch(/ropc_worker_restarts_total 1/);
    // The replacement serves too.
    await waitFor(
      async () => {
        await get(cli.port, '/which');
        return cli.logs().some((l) => l.msg === 'request' && l.pid === replacement);
      },
      20_000,
      'the replacement to answer',
    );

    // SIGTERM: readiness fails, the slow request in flight completes, both workers stop, exit 0.
    const inFlight = get(cli.port, '/slow');
    await waitFor(() => slowArrived, 10_000, 'the slow request to reach the upstream');
    cli.process.kill('SIGTERM');
    expect(await inFlight).toEqual({ status: 200, text: 'done /slow' });
    expect(await cli.exited).toBe(0);
    const stopped = cli
      .logs()
      .filter((l) => l.msg === 'stopped' && typeof l.worker === 'number')
      .map((l) => l.pid);
    expect(stopped.sort()).toEqual([first[1], replacement].sort());
  }, 180_000);

  it('is refused with the memory store: one line, exit 2', async () => {
    const file = await writeConfig('memory', { store: { type: 'memory' } });
    const run = spawnSync(process.execPath, ['bin/ropc-gateway.js', 'check-config', '--config', file], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    const problems = run.stderr.split('\n').filter((l) => l.startsWith('server.workers'));
    expect(problems).toEqual([
      'server.workers: 2 needs store.type redis: the memory store keeps tokens and lockout counters inside one process',
    ]);
    const started = spawnSync(process.execPath, ['bin/ropc-gateway.js', 'start', '--config', file], { encoding: 'utf8' });
    expect(started.status).toBe(2);
  });

  it('check-config shows the resolved worker count', async () => {
    const file = await writeConfig('auto', { server: { workers: 'auto' } });
    const run = spawnSync(process.execPath, ['bin/ropc-gateway.js', 'check-config', '--config', file], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^configuration OK\nserver\.workers: auto = \d+ worker processes\n$/);
  });
});
