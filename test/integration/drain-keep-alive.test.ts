/**
 * Draining with keep-alive clients (docs/operations.md, "Graceful shutdown"): once the gateway
 * drains, every answer it writes carries `Connection: close` (RFC 9112 §9.6) and the connection
 * closes after it, so a keep-alive client moves to another replica instead of sending its next
 * request into a listener about to close. src/http/lifecycle.ts is the one place that adds it;
 * this checks every kind of answer on a real gateway with a real keep-alive HTTP client: a
 * forwarded answer, an answer in flight when the drain began, a resource-path refusal, a 502
 * from a dead upstream and a token endpoint error.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadPort, startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/start-gateway.js';

interface Answer {
  readonly status: number;
  readonly connection: string | undefined;
  readonly body: string;
  readonly socket: Socket;
}

/** One request through `agent` (one keep-alive socket): its answer and the socket it went on. */
function request(
  agent: http.Agent,
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body, socket: req.socket as Socket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

describe('draining: Connection: close on keep-alive connections', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  /** Releases the upstream's held answer to /held. */
  let release: () => void = () => undefined;
  let heldArrived: Promise<void>;
  let heldArrivedResolve: () => void = () => undefined;

  beforeAll(async () => {
    heldArrived = new Promise((resolve) => (heldArrivedResolve = resolve));
    upstream = await startEchoUpstream((req, res) => {
      if (req.url === '/public/held') {
        heldArrivedResolve();
        release = () => res.end('held answer');
        return;
      }
      res.end(`done ${req.url}`);
    });
    const dead = `http://127.0.0.1:${await deadPort()}`;
    gw = await startGateway({
      upstream: upstream.url,
      config: {
        routes: [
          { path: '/dead/**', auth: 'none', upstream: dead },
          { path: '/public/**', auth: 'none' },
        ],
      },
    });
  });
  afterAll(async () => {
    release();
    // Waits for the drain the test began (a second shutdown waits for the first).
    await gw?.stop();
    await upstream?.close();
  });

  it('keeps the connection before the drain, and closes it after the first answer once draining', async () => {
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const inFlight = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const refusal = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const gateway502 = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const token = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const agents = [keepAlive, inFlight, refusal, gateway502, token];
    let stopping: Promise<void> | undefined;
    try {
      // Before the drain: keep-alive answers, and each agent's one socket is open and reused.
      const first = await request(keepAlive, `${gw.url}/public/a`);
      expect(first).toMatchObject({ status: 200, body: 'done /public/a' });
      expect(first.connection).toBe('keep-alive');
      const again = await request(keepAlive, `${gw.url}/public/b`);
      expect(again.socket).toBe(first.socket);
      const warm = await Promise.all([refusal, gateway502, token].map((agent) => request(agent, `${gw.url}/public/warm`)));
      for (const answer of warm) expect(answer.connection).toBe('keep-alive');
      // An answer under way when the drain begins: its head is written after.
      const held = request(inFlight, `${gw.url}/public/held`);
      await heldArrived;

      // The drain: long enough for every request below (the listener still accepts meanwhile).
      stopping = gw.gateway.shutdown(10_000);
      expect((await fetch(`${gw.adminUrl}/readyz`)).status).toBe(503);

      // A forwarded answer on the kept-alive connection says close, and the connection closes.
      const during = await request(keepAlive, `${gw.url}/public/c`);
      expect(during).toMatchObject({ status: 200, body: 'done /public/c', connection: 'close' });
      expect(during.socket).toBe(first.socket);
      await closed(during.socket);

      // The answer that was in flight when the drain began.
      release();
      const heldAnswer = await held;
      expect(heldAnswer).toMatchObject({ status: 200, body: 'held answer', connection: 'close' });
      await closed(heldAnswer.socket);

      // A refusal written by the error writer (no token on a protected path).
      const refused = await request(refusal, `${gw.url}/api/x`);
      expect(refused.status).toBe(401);
      expect(refused.connection).toBe('close');
      expect(refused.socket).toBe(warm[0]!.socket);
      await closed(refused.socket);

      // The forwarder's 502 for an upstream that refuses connections.
      const bad = await request(gateway502, `${gw.url}/dead/x`);
      expect(bad.status).toBe(502);
      expect(JSON.parse(bad.body)).toEqual({
        error: 'upstream_unavailable',
        error_description: 'the upstream refused or dropped the connection',
      });
      expect(bad.connection).toBe('close');
      expect(bad.socket).toBe(warm[1]!.socket);
      await closed(bad.socket);

      // A token endpoint error (RFC 6749 §5.2 body).
      const tokenError = await request(token, `${gw.url}/as/token.oauth2`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=unknown',
      });
      expect(tokenError.status).toBeGreaterThanOrEqual(400);
      expect(tokenError.connection).toBe('close');
      expect(tokenError.socket).toBe(warm[2]!.socket);
      await closed(tokenError.socket);
    } finally {
      release();
      for (const agent of agents) agent.destroy();
      // The rest of the drain, then the listener closes; nothing is in flight.
      await stopping;
    }
  }, 60_000);
});
