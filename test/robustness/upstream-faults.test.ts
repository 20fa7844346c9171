/**
 * Sick upstreams and vanishing clients (docs/security.md: upstream refused/reset →
 * 502, timeout → 504, client abort → upstream request aborted), with socket accounting: after
 * each fault the gateway holds no connection it did not hold before — on the client side
 * (`server.getConnections()` and the `ropc_open_connections` gauge), on the upstream side (the
 * upstream's own connection count: the agent's sockets) and in the process
 * (`process._getActiveHandles()`).
 *
 * The routes under /slow/ get a 30 s upstream timeout, so that only a correctly propagated
 * abort — never the timeout — can clean up within the few seconds the checks allow.
 */
import type http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { connectionsOf, metricValue, openSockets, rawRequest, request, settle, sleep, socketsTo, statusOf } from './support.js';

const CLIENTS = 50;
/**
 * How long cleanup may take after a fault: far below the 30 s timeout of /slow/, and roomy
 * enough for a loaded two-core CI machine (a bound for "it happens", not a speed measure).
 */
const CLEANUP_MS = 10_000;

let gw: TestGateway;
let sick: Upstream;
let garbage: net.Server;
let port: number;
let token: string;
let baselineSockets: number;

/** Upstream requests not yet closed, and those closed before their answer was complete. */
const upstreamState = { active: 0, aborted: 0, requests: 0 };
const timers = new Set<NodeJS.Timeout>();
/** Upstream connections of /slow/upload-stuck, which the upstream itself never notices closing. */
const stuck = new Set<net.Socket>();

function sickUpstream(req: http.IncomingMessage, res: http.ServerResponse): void {
  upstreamState.active += 1;
  upstreamState.requests += 1;
  res.once('close', () => {
    upstreamState.active -= 1;
    if (!res.writableFinished) upstreamState.aborted += 1;
  });
  const path = (req.url ?? '').split('?')[0];
  switch (path) {
    case '/t/ok':
      req.resume();
      req.on('end', () => res.end('ok'));
      return;
    case '/t/hang':
    case '/slow/hang':
      req.resume();
      return;
    case '/t/reset-before':
      req.socket.destroy();
      return;
    case '/t/close-before':
      req.socket.end();
      return;
    case '/t/eof-delimited':
      // HTTP/1.0 style: no length, the end of the body is the end of the connection.
      req.socket.end(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${'x'.repeat(100_000)}`);
      return;
    case '/t/reset-mid': {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 65536 });
      res.write(Buffer.alloc(1024, 1));
      const t = setTimeout(() => req.socket.destroy(), 30);
      timers.add(t);
      return;
    }
    case '/slow/download': {
      // A slow stream: 16 KiB every 50 ms, for at most 20 s.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const started = Date.now();
      const t = setInterval(() => {
        if (res.destroyed || Date.now() - started > 20_000) {
          clearInterval(t);
          res.end();
          return;
        }
        res.write(Buffer.alloc(16 * 1024, 2));
      }, 50);
      timers.add(t);
      return;
    }
    case '/slow/upload':
      // Reads a chunk every 100 ms and answers only at the end, which never comes.
      req.on('data', () => {
        req.pause();
        const t = setTimeout(() => req.resume(), 100);
        timers.add(t);
      });
      return;
    case '/slow/upload-stuck':
      // Reads nothing at all: this upstream cannot even notice the gateway going away (a paused
      // socket sees no FIN), so only the gateway's side can be checked; the test ends these.
      req.pause();
      stuck.add(req.socket);
      return;
    default:
      res.statusCode = 404;
      res.end();
  }
}

beforeAll(async () => {
  sick = await startEchoUpstream(sickUpstream);
  // Idle keep-alive connections from the gateway's agent close quickly, so "no sockets" is observable.
  sick.server.keepAliveTimeout = 300;
  garbage = net.createServer((socket) => {
    socket.once('data', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
  gw = await startGateway({
    upstream: sick.url,
    config: {
      log: { level: 'warn' },
      upstream: { url: sick.url, timeoutMs: 1000 },
      routes: [
        { path: '/slow/**', upstreamTimeoutMs: 30_000 },
        { path: '/t/garbage', upstream: `http://127.0.0.1:${(garbage.address() as AddressInfo).port}` },
      ],
    },
  });
  port = Number(new URL(gw.url).port);
  const res = await request(gw.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth() },
    body: `grant_type=password&username=joe&password=${USERS.joe.password}`,
  });
  token = (JSON.parse(res.body) as { access_token: string }).access_token;
  expect((await get('/t/ok')).status).toBe(200);
  await idle();
  baselineSockets = openSockets();
});
afterAll(async () => {
  for (const t of timers) clearInterval(t);
  await gw?.stop();
  await sick?.close();
  await new Promise<void>((resolve) => (garbage ? garbage.close(() => resolve()) : resolve()));
});

const get = (path: string) => request(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

/** Waits until neither side holds a connection and the upstream has no request open. */
async function idle(): Promise<{ client: number; upstream: number; active: number }> {
  const read = async () => ({
    client: await connectionsOf(gw.gateway.server),
    upstream: await connectionsOf(sick.server),
    active: upstreamState.active,
  });
  return settle(read, (s) => s.client === 0 && s.upstream === 0 && s.active === 0, CLEANUP_MS);
}

/** Back to the baseline: no client or upstream connection, no upstream request, no extra socket in the process. */
async function expectNoLeaks(): Promise<void> {
  expect(await idle()).toEqual({ client: 0, upstream: 0, active: 0 });
  expect(await settle(openSockets, (n) => n <= baselineSockets, CLEANUP_MS)).toBeLessThanOrEqual(baselineSockets);
  expect(await metricValue(gw.adminUrl, 'ropc_open_connections{listener="public"}')).toBe(0);
}

describe('a sick upstream', () => {
  it('that hangs: 504 within upstream.timeoutMs, and the upstream connection is closed', async () => {
    const started = Date.now();
    const res = await get('/t/hang');
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'upstream_timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(3500);
    await expectNoLeaks();
  });

  it.each([
    ['resets the connection before answering', '/t/reset-before'],
    ['closes the connection without answering', '/t/close-before'],
    ['answers with something that is not HTTP', '/t/garbage'],
  ])('that %s: 502', async (_what, path) => {
    const res = await get(path);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'upstream_unavailable' });
    await expectNoLeaks();
  });

  it('that resets in the middle of its answer: the client connection is cut, not left hanging', async () => {
    const exchange = await rawRequest(port, `GET /t/reset-mid HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    expect(await exchange.closed(3000)).toBe(true);
    const text = exchange.text();
    expect(statusOf(text)).toBe(200);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    expect(body.length).toBeLessThan(65536);
    await expectNoLeaks();
  });

  it('that ends its answer by closing the connection (no length): the answer is passed on whole', async () => {
    const res = await get('/t/eof-delimited');
    expect(res.status).toBe(200);
    expect(res.body).toBe('x'.repeat(100_000));
    await expectNoLeaks();
  });

  it('failing again and again leaks nothing, and the gateway goes on serving', async () => {
    const paths = ['/t/hang', '/t/reset-before', '/t/close-before', '/t/reset-mid', '/t/garbage'];
    const rounds = 8;
    const statuses = await Promise.all(
      Array.from({ length: rounds * paths.length }, async (_, i) => {
        const path = paths[i % paths.length] as string;
        const exchange = await rawRequest(
          port,
          `GET ${path}?i=${i} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
        );
        await exchange.closed(5000);
        exchange.socket.destroy();
        return [path, statusOf(exchange.text())] as const;
      }),
    );
    const expected: Record<string, number> = {
      '/t/hang': 504,
      '/t/reset-before': 502,
      '/t/close-before': 502,
      '/t/reset-mid': 200,
      '/t/garbage': 502,
    };
    for (const [path, status] of statuses) expect(status, path).toBe(expected[path]);
    await expectNoLeaks();
    expect((await get('/t/ok')).status).toBe(200);
  });
});

describe(`${CLIENTS} clients that vanish against a slow upstream`, () => {
  it('mid-upload and mid-download: every upstream request is aborted at once, no socket is left, the gateway serves on', async () => {
    const sickPort = Number(new URL(sick.url).port);
    const abortedBefore = upstreamState.aborted;
    const requestsBefore = upstreamState.requests;
    const half = CLIENTS / 2;
    const upload = (path: string, i: number) =>
      rawRequest(
        port,
        `POST ${path}?i=${i} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n`,
        Buffer.alloc(32 * 1024, 3),
      );
    // Half of the uploads go to an upstream that reads slowly, half to one that reads nothing.
    const uploads = Array.from({ length: half }, (_, i) => upload(i % 2 ? '/slow/upload-stuck' : '/slow/upload', i));
    const stuckCount = Math.floor(half / 2);
    const downloads = Array.from({ length: half }, (_, i) =>
      rawRequest(port, `GET /slow/download?i=${i} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\n\r\n`),
    );
    const clients = await Promise.all([...uploads, ...downloads]);

    // Every request has reached the upstream, and every download is under way.
    expect(
      await settle(
        () => upstreamState.requests - requestsBefore,
        (n) => n === CLIENTS,
        10_000,
      ),
    ).toBe(CLIENTS);
    await Promise.all(clients.slice(half).map((c) => c.received(20 * 1024)));
    for (const c of clients.slice(half)) expect(statusOf(c.text())).toBe(200);
    await sleep(100);
    expect(upstreamState.active).toBe(CLIENTS);
    expect(socketsTo(sickPort)).toBe(CLIENTS);

    const vanished = Date.now();
    for (const c of clients) c.socket.destroy();
    // The gateway lets go of every upstream connection (its agent's sockets)…
    expect(
      await settle(
        () => socketsTo(sickPort),
        (n) => n === 0,
        CLEANUP_MS,
      ),
    ).toBe(0);
    // …and every upstream that can notice sees its request aborted: the slow readers and the
    // downloads at least; a stuck reader sees its socket close only if its read was under way
    // when the gateway let go, which the machine's speed decides.
    const noticeable = CLIENTS - stuckCount;
    const aborted = await settle(
      () => upstreamState.aborted - abortedBefore,
      (n) => n >= noticeable,
      CLEANUP_MS,
    );
    expect(aborted).toBeGreaterThanOrEqual(noticeable);
    expect(aborted).toBeLessThanOrEqual(CLIENTS);
    expect(Date.now() - vanished).toBeLessThan(CLEANUP_MS);
    expect(stuck.size).toBe(stuckCount);
    for (const socket of stuck) socket.destroy();
    stuck.clear();
    await expectNoLeaks();

    // And it serves normally: the resource path and the token endpoint.
    expect((await get('/t/ok')).status).toBe(200);
    const login = await request(gw.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth() },
      body: `grant_type=password&username=joe&password=${USERS.joe.password}`,
    });
    expect(login.status).toBe(200);
    await expectNoLeaks();
  });
});
