/**
 * Route rules and upstreams end to end (issue "route rules, several upstreams"): a real
 * gateway, real upstreams over HTTP and HTTPS, real HTTP clients.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { deadPort, startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { makeCertificate, type Certificate } from '../support/certificates.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  body: { method: string; path: string; headers: Record<string, string>; served?: string };
}

let gw: TestGateway;
let echo: Upstream;
let second: Upstream;
let slow: Upstream;
let secure: https.Server;
let cert: Certificate;
const tokens: Record<string, string> = {};
/** Upstream-side events of the slow upstream, by request path. */
const seen: Record<string, { chunks: number; closedIncomplete: boolean; bytes: number }> = {};
let releaseFirstChunk: (() => void) | undefined;

async function token(username: 'joe' | 'alice', scope: string): Promise<string> {
  const res = await postForm(
    gw.tokenUrl,
    `grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(USERS[username].password)}&scope=${encodeURIComponent(scope)}`,
    { authorization: basicAuth() },
  );
  expect(res.status).toBe(200);
  return res.json.access_token as string;
}

function request(
  path: string,
  options: { method?: string; headers?: Record<string, string> | string[]; body?: Buffer | string; base?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${options.base ?? gw.url}${path}`,
      { method: options.method ?? 'GET', headers: options.headers as Record<string, string> },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          let body = {} as Answer['body'];
          try {
            body = JSON.parse(text) as Answer['body'];
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

beforeAll(async () => {
  echo = await startEchoUpstream();
  second = await startEchoUpstream((req, res) => {
    const payload = JSON.stringify({ method: req.method, path: req.url, headers: req.headers, served: 'second' });
    res.writeHead(200, {
      'content-type': 'application/json',
      connection: 'close, x-hop',
      'x-hop': 'secret',
      'keep-alive': 'timeout=1',
      'x-kept': 'yes',
    });
    res.end(payload);
  });
  slow = await startEchoUpstream((req, res) => {
    const path = req.url ?? '';
    const state: (typeof seen)[string] = { chunks: 0, closedIncomplete: false, bytes: 0 };
    seen[path] = state;
    req.on('data', (c: Buffer) => {
      state.chunks += 1;
      state.bytes += c.length;
    });
    req.on('close', () => {
      if (!req.complete) state.closedIncomplete = true;
    });
    if (path === '/slow/stream-up') {
      // Answers once the whole body arrived; the test checks the first chunk came before the rest was sent.
      req.on('end', () => res.end(JSON.stringify(state)));
      return;
    }
    if (path === '/slow/stream-down') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(64 * 1024, 1));
      releaseFirstChunk = () => res.end(Buffer.alloc(136 * 1024, 2));
      return;
    }
    // /slow/hang and /upload/file: never answer.
  });
  cert = makeCertificate();
  secure = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const payload = JSON.stringify({ method: req.method, path: req.url, headers: req.headers, served: 'tls' });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(payload);
  });
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
  const tlsPort = (secure.address() as AddressInfo).port;
  const dead = await deadPort();

  gw = await startGateway({
    upstream: echo.url,
    config: {
      routes: [
        { path: '/public/**', auth: 'none' },
        { path: '/admin/**', methods: ['POST', 'DELETE'], scopes: ['admin'] },
        { path: '/admin/**', scopes: ['read'] },
        { path: '/reports/*/pdf', scopes: ['admin', 'edit'], scopeMode: 'any' },
        { path: '/both', scopes: ['read', 'edit'] },
        { path: '/editors/**', groups: ['editors'] },
        { path: '/admins/**', groups: ['admins'] },
        { path: '/b/**', upstream: `${second.url}/prefix` },
        { path: '/tls/**', upstream: `https://localhost:${tlsPort}`, upstreamCaFile: cert.certFile },
        { path: '/tls-ip/**', upstream: `https://127.0.0.1:${tlsPort}`, upstreamCaFile: cert.certFile },
        { path: '/tls-untrusted/**', upstream: `https://localhost:${tlsPort}` },
        { path: '/slow/**', upstream: slow.url, upstreamTimeoutMs: 300 },
        { path: '/upload/**', upstream: slow.url, upstreamTimeoutMs: 5000 },
        { path: '/dead', upstream: `http://127.0.0.1:${dead}` },
      ],
    },
  });
  tokens.joeRead = await token('joe', 'read');
  tokens.joeEdit = await token('joe', 'read edit');
  tokens.alice = await token('alice', 'read admin');
});
afterAll(async () => {
  await gw?.stop();
  await echo?.close();
  await second?.close();
  await slow?.close();
  secure?.closeAllConnections();
  await new Promise<void>((resolve) => (secure ? secure.close(() => resolve()) : resolve()));
});

describe('route matching', () => {
  it('takes the first rule matching path and method', async () => {
    const post = await request('/admin/users', { method: 'POST', headers: bearer(tokens.joeEdit!) });
    expect(post.status).toBe(403);
    expect(post.headers['www-authenticate']).toContain('scope="admin"');
    expect((await request('/admin/users', { headers: bearer(tokens.joeEdit!) })).status).toBe(200);
    expect((await request('/admin/users', { method: 'POST', headers: bearer(tokens.alice!) })).status).toBe(200);
    expect((await request('/admin', { method: 'DELETE', headers: bearer(tokens.joeEdit!) })).status).toBe(403);
  });

  it('matches * within one segment only', async () => {
    expect((await request('/reports/2024/pdf', { headers: bearer(tokens.joeEdit!) })).status).toBe(200);
    const other = await request('/reports/2024/q1/pdf', { headers: bearer(tokens.joeRead!) });
    expect(other.status).toBe(200); // no rule matches: the default (any valid token)
    expect((await request('/reports/2024/q1/pdf')).status).toBe(401);
  });

  it('scopeMode any needs one of the scopes, and names all of them when none is held', async () => {
    expect((await request('/reports/x/pdf', { headers: bearer(tokens.alice!) })).status).toBe(200);
    const res = await request('/reports/x/pdf', { headers: bearer(tokens.joeRead!) });
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="ropc-gateway", error="insufficient_scope", error_description="the token lacks the required scope", scope="admin edit"',
    );
  });

  it('scopeMode all (the default) needs every scope and names the missing one', async () => {
    expect((await request('/both', { headers: bearer(tokens.joeEdit!) })).status).toBe(200);
    const res = await request('/both', { headers: bearer(tokens.joeRead!) });
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toContain('scope="edit"');
  });

  it('checks groups: one of them suffices, none → 403', async () => {
    expect((await request('/editors/x', { headers: bearer(tokens.joeRead!) })).status).toBe(200);
    const res = await request('/admins/x', { headers: bearer(tokens.joeRead!) });
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="ropc-gateway", error="insufficient_scope", error_description="the user is not in a group this route requires"',
    );
    expect((await request('/admins/x', { headers: bearer(tokens.alice!) })).status).toBe(200);
  });

  it('requires a valid token when no rule matches (the secure default)', async () => {
    expect((await request('/unlisted')).status).toBe(401);
    expect((await request('/unlisted', { headers: bearer('A'.repeat(65)) })).status).toBe(401);
    expect((await request('/unlisted', { headers: bearer(tokens.joeRead!) })).status).toBe(200);
  });

  it('proxies public routes without identity, even with a valid token, and strips forged identity', async () => {
    const res = await request('/public/logo.png', {
      headers: [
        'Host',
        'gw.test',
        'Authorization',
        `Bearer ${tokens.alice}`,
        'X-Auth-Subject',
        'root',
        'x-auth-groups',
        'admins',
        'X-Auth-Other',
        '1',
      ] as unknown as string[],
    });
    expect(res.status).toBe(200);
    for (const h of ['authorization', 'x-auth-subject', 'x-auth-groups', 'x-auth-other', 'x-auth-scope', 'x-auth-client-id'])
      expect(res.body.headers).not.toHaveProperty(h);
  });
});

describe('upstreams', () => {
  it('sends a route to its own upstream, prefixing the upstream URL path', async () => {
    const res = await request('/b/items?x=1', { headers: bearer(tokens.joeRead!) });
    expect(res.status).toBe(200);
    expect(res.body.served).toBe('second');
    expect(res.body.path).toBe('/prefix/b/items?x=1');
    expect(res.body.headers['x-auth-subject']).toBe('joe');
  });

  it('drops hop-by-hop headers of the upstream answer, and those it names in Connection', async () => {
    const res = await request('/b/x', { headers: bearer(tokens.joeRead!) });
    expect(res.headers['x-kept']).toBe('yes');
    expect(res.headers).not.toHaveProperty('x-hop');
    expect(res.headers['keep-alive']).not.toBe('timeout=1');
    // The upstream closing its connection does not close the client's.
    expect(res.headers.connection).toBe('keep-alive');
  });

  it('verifies an https upstream against its CA, for the upstream URL host, not the client Host', async () => {
    const res = await request('/tls/x', { headers: { ...bearer(tokens.joeRead!), host: 'gateway.example.org' } });
    expect(res.status).toBe(200);
    expect(res.body.served).toBe('tls');
    expect(res.body.headers.host).toBe('gateway.example.org');
    expect(res.body.headers['x-forwarded-host']).toBe('gateway.example.org');
    const ip = await request('/tls-ip/x', { headers: { ...bearer(tokens.joeRead!), host: 'gateway.example.org' } });
    expect(ip.status).toBe(200);
  });

  it('refuses an https upstream it cannot verify (502, verification is always on)', async () => {
    const res = await request('/tls-untrusted/x', { headers: bearer(tokens.joeRead!) });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ error: 'upstream_unavailable' });
  });

  it('answers 502 when the upstream refuses the connection (not 504: it does not wait out the timeout)', async () => {
    const res = await request('/dead', { headers: bearer(tokens.joeRead!) });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ error: 'upstream_unavailable' });
  });

  it("answers 504 after the route's own upstreamTimeoutMs", async () => {
    const started = Date.now();
    const res = await request('/slow/hang', { headers: bearer(tokens.joeRead!) });
    const elapsed = Date.now() - started;
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ error: 'upstream_timeout' });
    expect(elapsed).toBeGreaterThanOrEqual(280);
    // The route's 300 ms, not the 30 s default of upstream.timeoutMs.
    expect(elapsed).toBeLessThan(30_000);
  });
});

describe('streaming', () => {
  it('streams a request body: the upstream sees the first chunk before the client sent the rest', async () => {
    const done = new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        `${gw.url}/slow/stream-up`,
        { method: 'POST', headers: { ...bearer(tokens.joeRead!), 'transfer-encoding': 'chunked' } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: JSON.parse(text) as Answer['body'] }),
          );
        },
      );
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024, 1));
      const poll = setInterval(() => {
        if ((seen['/slow/stream-up']?.bytes ?? 0) > 0) {
          clearInterval(poll);
          req.end(Buffer.alloc(136 * 1024, 2));
        }
      }, 10);
    });
    const res = await done;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ bytes: 200 * 1024 });
  });

  it('streams a response body: the client gets the first chunk before the upstream sent the rest', async () => {
    const received = await new Promise<number>((resolve, reject) => {
      http
        .get(`${gw.url}/slow/stream-down`, { headers: bearer(tokens.joeRead!) }, (res) => {
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            if (bytes === 0) releaseFirstChunk?.();
            bytes += c.length;
          });
          res.on('end', () => resolve(bytes));
        })
        .on('error', reject);
    });
    expect(received).toBe(200 * 1024);
  });

  it('aborts the upstream request when the client goes away mid-upload', async () => {
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST /upload/file HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.joeRead}\r\nContent-Length: 1000000\r\n\r\n`);
    socket.write(Buffer.alloc(32 * 1024, 5));
    await expect.poll(() => seen['/upload/file']?.bytes ?? 0, { timeout: 2000, interval: 10 }).toBeGreaterThan(0);
    socket.destroy();
    // Well before the route's 5 s upstream timeout could be the cause.
    await expect.poll(() => seen['/upload/file']?.closedIncomplete, { timeout: 2000, interval: 10 }).toBe(true);
  });
});

describe('forwarding headers and limits', () => {
  let trusting: TestGateway;
  beforeAll(async () => {
    trusting = await startGateway({
      upstream: echo.url,
      config: {
        server: { trustProxy: true, limits: { keepAliveTimeoutMs: 300, maxHeaderBytes: 4096 } },
        routes: [{ path: '/**', auth: 'none' }],
      },
    });
  });
  afterAll(async () => trusting?.stop());

  it('replaces inbound X-Forwarded-* without trustProxy and sets X-Request-Id', async () => {
    const res = await request('/public/x', {
      headers: {
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil',
        forwarded: 'for=1.2.3.4',
        host: 'gw.test',
      },
    });
    expect(res.body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(res.body.headers['x-forwarded-proto']).toBe('http');
    expect(res.body.headers['x-forwarded-host']).toBe('gw.test');
    expect(res.body.headers).not.toHaveProperty('forwarded');
    expect(res.body.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('appends to X-Forwarded-For and keeps X-Forwarded-Proto with trustProxy', async () => {
    const res = await request('/x', {
      base: trusting.url,
      headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.1', 'x-forwarded-proto': 'https', 'x-request-id': 'req-42' },
    });
    expect(res.body.headers['x-forwarded-for']).toBe('203.0.113.9, 10.0.0.1, 127.0.0.1');
    expect(res.body.headers['x-forwarded-proto']).toBe('https');
    expect(res.body.headers['x-request-id']).toBe('req-42');
  });

  it('answers 431 to headers larger than server.limits.maxHeaderBytes', async () => {
    const res = await request('/x', { base: trusting.url, headers: { 'x-big': 'a'.repeat(5000) } });
    expect(res.status).toBe(431);
  });

  it('closes an idle keep-alive connection after server.limits.keepAliveTimeoutMs', async () => {
    const socket = net.connect(Number(new URL(trusting.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = Date.now();
    socket.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    await new Promise((resolve) => socket.once('close', resolve));
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    // The setting, not Node's 5 s default (Node keeps an idle socket about 1 s past either).
    expect(elapsed).toBeLessThan(5000);
  });
});
