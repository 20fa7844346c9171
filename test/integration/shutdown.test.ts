/**
 * Graceful shutdown of the real CLI in a child process (issue "Operations"): on SIGTERM
 * `/readyz` answers 503 at once, requests are still served for `server.drainSeconds`, then the
 * listener closes, the in-flight request completes, and the process exits 0; an in-flight
 * request longer than `server.shutdownTimeoutSeconds` is cut and the process still exits 0.
 *
 * The CLI is compiled from the current sources into .tmp/ (inside the project, so packages
 * resolve from node_modules) and run as `node bin/ropc-gateway.js start --config FILE`, the
 * same command as after `npm run build`, without rewriting the dist/ other tests run from.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/security/password-hash.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startGateway } from '../support/start-gateway.js';
import { sleep, waitFor } from '../support/wait-for.js';

const ROOT = resolve(import.meta.dirname, '../..');
let build: string;
let upstream: Upstream;
const children: ChildProcess[] = [];

beforeAll(async () => {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  build = mkdtempSync(join(ROOT, '.tmp', 'shutdown-'));
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(build, 'dist')],
    { cwd: ROOT, stdio: 'pipe' },
  );
  mkdirSync(join(build, 'bin'));
  copyFileSync(join(ROOT, 'bin/ropc-gateway.js'), join(build, 'bin/ropc-gateway.js'));
  upstream = await startEchoUpstream((req, res) => {
    const delay = req.url === '/slow' ? 2500 : req.url === '/hang' ? 60_000 : 0;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`done ${req.url}`);
    }, delay).unref();
  });
  // A whole tsc build: a minute or more while the rest of the suite keeps both cores busy.
}, 180_000);
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await upstream?.close();
  if (build) rmSync(build, { recursive: true, force: true });
});

interface Child {
  readonly process: ChildProcess;
  readonly port: number;
  readonly adminPort: number;
  readonly exited: Promise<{ code: number | null; at: number }>;
  logs(): Record<string, unknown>[];
}

async function startCli(server: Record<string, unknown>): Promise<Child> {
  const dir = mkdtempSync(join(build, 'run-'));
  writeFileSync(join(dir, 'users.yaml'), stringify({ users: [{ username: 'joe', passwordHash: await hashSecret('joe-pw') }] }));
  writeFileSync(
    join(dir, 'gateway.yaml'),
    stringify({
      server: { host: '127.0.0.1', port: 0, ...server },
      admin: { host: '127.0.0.1', port: 0 },
      store: { type: 'memory' },
      upstream: { url: upstream.url, timeoutMs: 30_000 },
      clients: [{ id: 'app', secretHash: await hashSecret('app-secret'), scopes: ['read'] }],
      validators: [{ name: 'local', type: 'file', path: 'users.yaml' }],
      routes: [{ path: '/**', auth: 'none' }],
    }),
  );
  const child = spawn(process.execPath, [join(build, 'bin/ropc-gateway.js'), 'start', '--config', join(dir, 'gateway.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; at: number }>((r) => child.once('exit', (code) => r({ code, at: Date.now() })));
  const logs = () =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitFor(() => stdout.includes('ropc-gateway listening') || child.exitCode !== null, 20_000, 'the gateway to listen');
  if (child.exitCode !== null) throw new Error(`the gateway exited: ${stderr}${stdout}`);
  const listening = logs().find((l) => l.msg === 'ropc-gateway listening') as { port: number; adminPort: number };
  return { process: child, port: listening.port, adminPort: listening.adminPort, exited, logs };
}

function get(port: number, path: string): Promise<{ status: number; text: string; connection: string | undefined }> {
  return new Promise((resolvePromise, reject) => {
    // A new connection each time (no agent): what a client that Kubernetes still routes here does.
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text, connection: res.headers.connection }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('SIGTERM', () => {
  it('fails readiness at once, drains, finishes the in-flight request, closes and exits 0', async () => {
    const gw = await startCli({ drainSeconds: 1, shutdownTimeoutSeconds: 10 });
    expect((await get(gw.adminPort, '/readyz')).status).toBe(200);

    const inFlight = get(gw.port, '/slow');
    await sleep(100);
    const signalled = Date.now();
    gw.process.kill('SIGTERM');

    // Readiness fails at once ...
    await expect.poll(async () => (await get(gw.adminPort, '/readyz')).status, { timeout: 300, interval: 20 }).toBe(503);
    expect((await get(gw.adminPort, '/readyz')).text).toBe('draining\n');
    expect(JSON.parse((await get(gw.adminPort, '/readyz?verbose')).text)).toMatchObject({ status: 'draining' });
    // ... while new connections are still served during the drain, told to close.
    const during = await get(gw.port, '/fast');
    expect(during).toMatchObject({ status: 200, text: 'done /fast', connection: 'close' });
    expect(Date.now() - signalled).toBeLessThan(1000);

    // After drainSeconds the listener is closed: new connections are refused.
    await sleep(1300 - (Date.now() - signalled));
    await expect(get(gw.port, '/fast')).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    // The in-flight request completes, then the process exits 0.
    expect(await inFlight).toMatchObject({ status: 200, text: 'done /slow' });
    const { code, at } = await gw.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeGreaterThanOrEqual(2300);
    expect(at - signalled).toBeLessThan(5000);
    const messages = gw.logs().map((l) => l.msg);
    expect(messages).toEqual(
      expect.arrayContaining(['shutting down: readiness fails now, draining', 'closing the public listener', 'stopped']),
    );
    expect(gw.logs().find((l) => l.msg === 'request' && l.route === '/**' && l.status === 200 && (l.ms as number) > 2000)).toBeDefined();
  });

  it('cuts an in-flight request that outlasts server.shutdownTimeoutSeconds, and still exits 0', async () => {
    const gw = await startCli({ drainSeconds: 0, shutdownTimeoutSeconds: 1 });
    const hanging = get(gw.port, '/hang').then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    await sleep(100);
    const signalled = Date.now();
    gw.process.kill('SIGTERM');
    expect(await hanging).toBe('ECONNRESET');
    const { code, at } = await gw.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeGreaterThanOrEqual(900);
    expect(at - signalled).toBeLessThan(3000);
    expect(gw.logs().find((l) => l.msg === 'in-flight requests did not finish in time; cutting their connections')).toMatchObject({
      inFlight: 1,
    });
  });
});

describe('gateway.shutdown() in process', () => {
  it('cuts proxied WebSocket connections when the listener closes, after the drain', async () => {
    const wss = new WebSocketServer({ noServer: true });
    const onUpgrade = (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) =>
      wss.handleUpgrade(req, socket, head, () => undefined);
    upstream.server.on('upgrade', onUpgrade);
    const gw = await startGateway({ upstream: upstream.url, config: { routes: [{ path: '/**', auth: 'none' }] } });
    try {
      const ws = new WebSocket(`${gw.url.replace('http:', 'ws:')}/live`);
      await new Promise((r, j) => ws.once('open', r).once('error', j));
      const closed = new Promise<number>((r) => ws.once('close', () => r(Date.now())));
      const started = Date.now();
      // A drain long enough for the readiness probe below to land inside it on a busy machine.
      const stopping = gw.gateway.shutdown(2000);
      expect((await fetch(`${gw.adminUrl}/readyz`)).status).toBe(503);
      expect(ws.readyState).toBe(WebSocket.OPEN);
      const at = await closed;
      expect(at - started).toBeGreaterThanOrEqual(1980);
      expect(at - started).toBeLessThan(10_000);
      await stopping;
    } finally {
      upstream.server.off('upgrade', onUpgrade);
      wss.close();
      await gw.stop();
    }
  });
});
