/**
 * The forwarder's contract (forwarder.ts) — undici for plain HTTP (undici-forwarder.ts),
 * WebSocket delegated to http-proxy-3 (websocket-proxy.ts) — with a real upstream and real
 * clients: end-to-end headers (X-Forwarded-* included) pass unchanged,
 * hop-by-hop ones do not; bodies stream both ways without buffering; refused → 502, silence →
 * 504; a client that goes away aborts the upstream request; https upstreams are verified
 * against the URL's host; WebSocket upgrades pass. The gateway's own steps (scrubbing,
 * identity) are covered end to end by proxy.test.ts; this file calls `web()`/`ws()` directly.
 */
import http from 'node:http';
import https from 'node:https';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger } from '../../src/observability/logger.js';
import { Lifecycle } from '../../src/http/lifecycle.js';
import type { Forwarder, ForwarderOptions } from '../../src/resource/forwarder.js';
import type { UpstreamTarget } from '../../src/resource/routes.js';
import { createUndiciForwarder, upstreamPath } from '../../src/resource/undici-forwarder.js';
import { createWebSocketProxy } from '../../src/resource/websocket-proxy.js';
import { deadPort } from '../support/echo-upstream.js';
import { sleep, waitFor } from '../support/wait-for.js';

/** The forwarder as src/app.ts builds it. */
const make = (options: ForwarderOptions): Forwarder => createUndiciForwarder(options, createWebSocketProxy(options));

const TIMEOUT_MS = 800;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
}

/** The upstream: answers by path; remembers what it saw and which requests were cut short. */
class Upstream {
  readonly server: http.Server;
  readonly seen: Seen[] = [];
  /** Paths of the requests whose connection closed before the answer was complete. */
  readonly aborted: string[] = [];
  connections = 0;
  /** Bytes the /firehose answer managed to write so far. */
  firehoseWritten = 0;
  url = '';

  constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', () => (this.connections += 1));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    res.on('close', () => {
      if (!res.writableFinished) this.aborted.push(req.url ?? '');
    });
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/stream':
        // Echoes the request body chunk by chunk: proves streaming in both directions.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
        return;
      case '/big':
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.alloc(200 * 1024, 7));
        return;
      case '/firehose': {
        // Writes 64 MiB as fast as the proxy takes it.
        const chunk = Buffer.alloc(64 * 1024, 1);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(1024 * chunk.length) });
        const pump = (): void => {
          while (this.firehoseWritten < 1024 * chunk.length) {
            this.firehoseWritten += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      case '/hang':
        return;
      case '/stall':
        // Starts the answer, then goes silent.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        return;
      case '/reset':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      case '/hop':
        res.writeHead(200, [
          'content-type',
          'application/json',
          'connection',
          'keep-alive, x-up-hop',
          'keep-alive',
          'timeout=5',
          'x-up-hop',
          'secret',
          'set-cookie',
          'a=1',
          'set-cookie',
          'b=2',
          'x-end-to-end',
          'kept',
        ]);
        res.end('{}');
        return;
      case '/no-content':
        res.writeHead(204, { 'x-kind': 'none' });
        res.end();
        return;
      default: {
        req.resume();
        req.on('end', () => {
          const body = JSON.stringify({ method: req.method, url: req.url });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
          res.end(body);
        });
      }
    }
  }
}

interface Answer {
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** One request; `chunked` sends the body with Transfer-Encoding: chunked (no Content-Length). */
function send(
  url: string,
  options: {
    method?: string;
    headers?: string[] | Record<string, string>;
    body?: Buffer | string;
    chunked?: boolean;
    agent?: http.Agent;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers as Record<string, string>, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.chunked && options.body !== undefined) {
      req.write(options.body);
      req.end();
    } else req.end(options.body);
  });
}

/** What the resource path's header scrub removes before forwarding (identity-headers.ts). */
const SCRUBBED = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'expect'];

/**
 * A gateway stand-in: every request goes to `route(req)` through the forwarder under test,
 * after the hop-by-hop part of the resource path's scrub unless `scrub` is false.
 */
async function startFront(
  forwarder: Forwarder,
  route: (url: string) => UpstreamTarget,
  scrub = true,
  lifecycle: () => Lifecycle = () => new Lifecycle(),
): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    // As src/http/server.ts does for every request: draining adds `Connection: close` (lifecycle.ts).
    lifecycle().track(res);
    if (scrub) {
      for (const name of req.headers.connection?.split(',') ?? []) delete req.headers[name.trim().toLowerCase()];
      for (const name of SCRUBBED) delete req.headers[name];
    }
    forwarder.web(req, res, route(req.url ?? '/'));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => forwarder.ws(req, socket, head, route(req.url ?? '/')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('forwarder', () => {
  const upstream = new Upstream();
  const outcomes: string[] = [];
  let lifecycle = new Lifecycle();
  let forwarder: Forwarder;
  let front: Awaited<ReturnType<typeof startFront>>;
  let target: UpstreamTarget;
  let dead: UpstreamTarget;

  beforeAll(async () => {
    await upstream.start();
    target = { url: upstream.url, timeoutMs: TIMEOUT_MS, caFile: '' };
    dead = { url: `http://127.0.0.1:${await deadPort()}`, timeoutMs: TIMEOUT_MS, caFile: '' };
    const base: UpstreamTarget = { url: `${upstream.url}/base/`, timeoutMs: TIMEOUT_MS, caFile: '' };
    forwarder = make({
      maxSockets: 16,
      logger: createLogger('silent'),
      targets: [target, dead, base],
      observe: (_upstream, outcome) => outcomes.push(outcome),
    });
    front = await startFront(
      forwarder,
      (url) => (url.startsWith('/dead') ? dead : url.startsWith('/prefixed') ? base : target),
      true,
      () => lifecycle,
    );
  });
  afterAll(async () => {
    await front?.close();
    forwarder?.close();
    await upstream.close();
  });

  it('passes the method, path, query and end-to-end headers unchanged, X-Forwarded-* included', async () => {
    const res = await send(`${front.url}/api/items?q=1&r=%20`, {
      method: 'PATCH',
      headers: [
        'Host',
        'gateway.test',
        'X-Forwarded-For',
        '10.0.0.1, 127.0.0.1',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'public.example',
        'X-Request-Id',
        'rid-1',
        'X-Auth-Subject',
        'joe',
        'Accept',
        'application/json',
        'Content-Type',
        'text/plain',
        'Content-Length',
        '5',
      ],
      body: 'hello',
    });
    expect(res.status).toBe(200);
    const seen = upstream.seen.at(-1);
    expect(seen?.method).toBe('PATCH');
    expect(seen?.url).toBe('/api/items?q=1&r=%20');
    expect(seen?.headers).toMatchObject({
      host: 'gateway.test',
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'public.example',
      'x-request-id': 'rid-1',
      'x-auth-subject': 'joe',
      accept: 'application/json',
      'content-type': 'text/plain',
      'content-length': '5',
    });
  });

  it('joins the request path onto the upstream URL path', async () => {
    const res = await send(`${front.url}/prefixed/x?y=1`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString()).url).toBe('/base/prefixed/x?y=1');
  });

  it('passes repeated response headers and drops hop-by-hop ones, also those named in Connection', async () => {
    const res = await send(`${front.url}/hop`);
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['x-end-to-end']).toBe('kept');
    expect(res.headers).not.toHaveProperty('x-up-hop');
    expect(res.headers['keep-alive'] ?? 'timeout=5').toBe('timeout=5'); // the front's own, if any
  });

  it('answers bodiless statuses and HEAD without a body', async () => {
    const noContent = await send(`${front.url}/no-content`);
    expect(noContent.status).toBe(204);
    expect(noContent.headers['x-kind']).toBe('none');
    const head = await send(`${front.url}/api`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(upstream.seen.at(-1)?.method).toBe('HEAD');
  });

  it('answers 502 when the upstream refuses the connection', async () => {
    const res = await send(`${front.url}/dead`);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body.toString())).toEqual({
      error: 'upstream_unavailable',
      error_description: 'the upstream refused or dropped the connection',
    });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(outcomes.at(-1)).toBe('error');
  });

  it('answers 504 when the upstream does not answer within its timeoutMs', async () => {
    const started = Date.now();
    const res = await send(`${front.url}/hang`);
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body.toString()).error).toBe('upstream_timeout');
    // undici's timeouts run on coarse timers (they can fire a tick early): the answer waited, then timed out.
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS / 2);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 2000);
    expect(outcomes.at(-1)).toBe('timeout');
  });

  /** Resolves with how the answer to `path` ended for the client: 'end', or 'cut' when the connection was cut. */
  const ending = (path: string): Promise<string> =>
    new Promise<string>((resolve) => {
      http
        .get(`${front.url}${path}`, { agent: false }, (res) => {
          expect(res.statusCode).toBe(200);
          res.on('data', () => undefined);
          res.on('end', () => resolve('end'));
          res.on('error', () => resolve('cut'));
          res.on('aborted', () => resolve('cut'));
        })
        .on('error', () => resolve('cut'));
    });

  it('cuts the client connection when the upstream resets after its answer started', async () => {
    expect(await ending('/reset')).toBe('cut');
  }, 5000);

  it('cuts the client connection when the upstream stalls for timeoutMs after its answer started', async () => {
    const started = Date.now();
    expect(await ending('/stall')).toBe('cut');
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
  }, 5000);

  it('streams 200 KB request and response bodies', async () => {
    const payload = Buffer.alloc(200 * 1024, 3);
    const echoed = await send(`${front.url}/stream`, {
      method: 'POST',
      body: payload,
      headers: { 'content-length': String(payload.length) },
    });
    expect(echoed.status).toBe(200);
    expect(echoed.body.equals(payload)).toBe(true);
    const big = await send(`${front.url}/big`);
    expect(big.body.length).toBe(200 * 1024);
  });

  it('streams both ways without buffering: the first chunk comes back before the second is sent', async () => {
    const rounds = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${front.url}/stream`, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/octet-stream' },
      });
      const timer = setTimeout(() => reject(new Error('the echo of the first chunk never came back: something buffers')), 3000);
      let round = 0;
      req.on('response', (res) => {
        res.on('data', (chunk: Buffer) => {
          expect(chunk.toString()).toContain(`chunk-${round}`);
          round += 1;
          if (round < 3) req.write(`chunk-${round}`);
          else req.end();
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve(round);
        });
      });
      req.on('error', reject);
      req.write('chunk-0'); // chunked request body, no content-length
      req.flushHeaders();
    });
    expect(rounds).toBe(3);
  });

  it('applies backpressure: a client that stops reading stops the upstream', async () => {
    upstream.firehoseWritten = 0;
    const req = http.get(`${front.url}/firehose`, { agent: false });
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
    res.pause();
    await sleep(500);
    // 64 MiB would be written at once if the proxy buffered; socket buffers hold a few MiB.
    expect(upstream.firehoseWritten).toBeLessThan(40 * 1024 * 1024);
    req.destroy();
  });

  it('aborts the upstream request when the client goes away while waiting', async () => {
    const req = http.get(`${front.url}/hang?abort-me`, { agent: false });
    req.on('error', () => undefined);
    await waitFor(() => upstream.seen.some((r) => r.url === '/hang?abort-me'), 5000, 'the request to reach the upstream');
    req.destroy();
    // Well before the upstream timeout could be the cause.
    await expect.poll(() => upstream.aborted.includes('/hang?abort-me'), { timeout: TIMEOUT_MS - 200, interval: 20 }).toBe(true);
    expect(outcomes.at(-1)).toBe('aborted');
  });

  it('aborts the upstream request when the client goes away in the middle of the answer', async () => {
    const req = http.get(`${front.url}/firehose?abort-me`, { agent: false });
    req.on('error', () => undefined);
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
    res.once('data', () => req.destroy());
    await expect.poll(() => upstream.aborted.includes('/firehose?abort-me'), { timeout: 2000, interval: 20 }).toBe(true);
  });

  it('reuses upstream connections (keep-alive) across requests, bodies included', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = upstream.connections;
    for (let i = 0; i < 20; i++) {
      const res =
        i % 2
          ? await send(`${front.url}/api/${i}`, { agent })
          : await send(`${front.url}/api/${i}`, {
              agent,
              method: 'POST',
              body: `n=${i}`,
              headers: { 'content-length': String(`n=${i}`.length) },
            });
      expect(res.status).toBe(200);
    }
    agent.destroy();
    expect(upstream.connections - before).toBeLessThanOrEqual(2);
  });

  it('asks clients to reconnect elsewhere (Connection: close) while the gateway drains', async () => {
    lifecycle.drain();
    try {
      const ok = await send(`${front.url}/api`);
      expect(ok.status).toBe(200);
      expect(ok.headers.connection).toBe('close');
      const failed = await send(`${front.url}/dead`);
      expect(failed.status).toBe(502);
      expect(failed.headers.connection).toBe('close');
    } finally {
      lifecycle = new Lifecycle();
    }
  });

  it('reports each request once to observe() with its status class', async () => {
    const before = outcomes.length;
    await send(`${front.url}/api`);
    await send(`${front.url}/no-content`);
    expect(outcomes.slice(before)).toEqual(['2xx', '2xx']);
  });

  it('passes WebSocket upgrades', async () => {
    const wss = new WebSocketServer({ server: upstream.server, path: '/ws' });
    wss.on('connection', (socket) => socket.on('message', (m) => socket.send(`echo:${String(m)}`)));
    try {
      const ws = new WebSocket(`${front.url.replace('http', 'ws')}/ws`);
      const echoed = await new Promise<string>((resolve, reject) => {
        ws.on('open', () => ws.send('hi'));
        ws.on('message', (m) => resolve(String(m)));
        ws.on('error', reject);
      });
      expect(echoed).toBe('echo:hi');
      ws.close();
    } finally {
      wss.close();
    }
  });

  describe('https upstream', () => {
    let dir: string;
    let tlsUpstream: https.Server;
    let port: number;
    let ca: string;
    let otherCa: string;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `fwd-tls-`));
      ca = await selfSigned(dir, 'upstream', 'localhost');
      otherCa = await selfSigned(dir, 'other', 'localhost');
      tlsUpstream = https.createServer({ cert: readFileSync(`${ca}`), key: readFileSync(ca.replace(/\.crt$/, '.key')) }, (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ host: req.headers.host }));
      });
      await new Promise<void>((resolve) => tlsUpstream.listen(0, '127.0.0.1', resolve));
      port = (tlsUpstream.address() as AddressInfo).port;
    });
    afterAll(async () => {
      tlsUpstream?.closeAllConnections();
      await new Promise<void>((resolve) => tlsUpstream?.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    });

    it('verifies the certificate for the upstream URL host, not the client Host header', async () => {
      const good: UpstreamTarget = { url: `https://localhost:${port}`, timeoutMs: 2000, caFile: ca };
      const wrong: UpstreamTarget = { url: `https://localhost:${port}`, timeoutMs: 2000, caFile: otherCa };
      const fwd = make({ maxSockets: 4, logger: createLogger('silent'), targets: [good] });
      const tlsFront = await startFront(fwd, (url) => (url.startsWith('/wrong') ? wrong : good));
      try {
        const ok = await send(`${tlsFront.url}/x`, { headers: { host: 'gateway.test' } });
        expect(ok.status).toBe(200);
        expect(JSON.parse(ok.body.toString()).host).toBe('gateway.test');
        const again = await send(`${tlsFront.url}/y`, { headers: { host: 'other.test' } });
        expect(again.status).toBe(200);
        expect((await send(`${tlsFront.url}/wrong`)).status).toBe(502);
      } finally {
        await tlsFront.close();
        fwd.close();
      }
    });
  });
});

describe('forwarder: request headers and paths', () => {
  const upstream = new Upstream();
  let forwarder: Forwarder;
  let front: Awaited<ReturnType<typeof startFront>>;

  beforeAll(async () => {
    await upstream.start();
    const target: UpstreamTarget = { url: upstream.url, timeoutMs: TIMEOUT_MS, caFile: '' };
    const options: ForwarderOptions = { maxSockets: 4, logger: createLogger('silent') };
    forwarder = make(options);
    front = await startFront(forwarder, () => target, false);
  });
  afterAll(async () => {
    await front?.close();
    forwarder?.close();
    await upstream.close();
  });

  it('never sends request hop-by-hop headers, nor those named in Connection (undici would refuse some)', async () => {
    const res = await send(`${front.url}/stream`, {
      method: 'POST',
      // An object, not a raw list: Node's client only frames a chunked body from object headers.
      headers: {
        connection: 'keep-alive, X-Secret-Hop',
        'x-secret-hop': 'hop',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'proxy-connection': 'keep-alive',
        'x-kept': 'yes',
      },
      body: 'chunked body',
      chunked: true,
    });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('chunked body');
    const headers = upstream.seen.at(-1)?.headers ?? {};
    expect(headers['x-kept']).toBe('yes');
    for (const name of ['x-secret-hop', 'keep-alive', 'te', 'proxy-connection']) expect(headers, name).not.toHaveProperty(name);
  });

  it('passes a POST with Expect: 100-continue (Node has already answered the 100)', async () => {
    const body = 'continue-body';
    const res = await new Promise<Answer>((resolve, reject) => {
      const req = http.request(`${front.url}/stream`, {
        method: 'POST',
        agent: false,
        headers: { expect: '100-continue', 'content-length': String(body.length) },
      });
      req.on('continue', () => req.end(body));
      req.on('response', (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () =>
          resolve({
            status: r.statusCode ?? 0,
            statusMessage: '',
            headers: r.headers,
            rawHeaders: r.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
      });
      req.on('error', reject);
    });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(body);
    expect(upstream.seen.at(-1)?.headers).not.toHaveProperty('expect');
  });

  it('joins paths like http-proxy-3', () => {
    expect(upstreamPath({ basePath: '', baseQuery: '' }, '/a?b=1')).toBe('/a?b=1');
    expect(upstreamPath({ basePath: '/base', baseQuery: '' }, '/a?b=1')).toBe('/base/a?b=1');
    expect(upstreamPath({ basePath: '/base', baseQuery: 'k=v' }, '/a?b=1')).toBe('/base/a?k=v&b=1');
    expect(upstreamPath({ basePath: '/base', baseQuery: 'k=v' }, '/a')).toBe('/base/a?k=v');
    expect(upstreamPath({ basePath: '', baseQuery: 'k=v' }, '/')).toBe('/?k=v');
  });
});

/** A self-signed certificate for `name` (and IP 127.0.0.1); returns the .crt path (the .key is next to it). */
async function selfSigned(dir: string, file: string, name: string): Promise<string> {
  const crt = join(dir, `${file}.crt`);
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name},IP:127.0.0.1`,
    '-keyout',
    join(dir, `${file}.key`),
    '-out',
    crt,
  ]);
  return crt;
}
