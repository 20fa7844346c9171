/**
 * Connections an anonymous client cannot hoard, at the real boundary (a real gateway, raw
 * node:net sockets, a real upstream): the first-byte timeout, refusals that close the socket
 * fully, the per-peer connection cap, `Expect: 100-continue` only after authorization, bytes
 * after `Connection: close`, pipelined garbage, the log line of a malformed request, TLS
 * handshakes that never finish, server.limits.maxConnections, and 100-continue under it.
 * docs/operations.md ("Connection limits") and docs/security.md describe the guarantees.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { makeCertificate } from '../support/certificates.js';
import { connectionsOf, metricValue, rawRequest, request, settle, sleep, statusOf } from './support.js';

let gw: TestGateway;
let upstream: Upstream;
let port: number;
let token: string;
let seen: string[] = [];

beforeAll(async () => {
  upstream = await startEchoUpstream((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`got ${Buffer.concat(chunks).toString('latin1')}`);
    });
  });
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      server: { limits: { firstByteTimeoutMs: 300, headersTimeoutMs: 20000, requestTimeoutMs: 30000, connectionsPerIp: 8 } },
      routes: [{ path: '/public/**', auth: 'none' }],
    },
  });
  port = Number(new URL(gw.url).port);
  const res = await postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, {
    authorization: basicAuth(),
  });
  token = res.json.access_token as string;
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

/** Waits until the gateway holds no connection (the previous test's are gone). */
async function quiet(): Promise<void> {
  expect(
    await settle(
      () => connectionsOf(gw.gateway.server),
      (n) => n === 0,
      5000,
    ),
  ).toBe(0);
}

/** A client that never closes its side on its own (allowHalfOpen), like a hostile one. */
function stubbornClient(data: string): Promise<{ socket: net.Socket; text: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(data);
      resolve({ socket, text: () => text });
    });
  });
}

describe('idle and refused connections', () => {
  it('closes a connection that never sends a byte (server.limits.firstByteTimeoutMs)', async () => {
    await quiet();
    const exchange = await rawRequest(port, '');
    expect(await exchange.closed(5000)).toBe(true);
    expect(exchange.text()).toBe('');
    await quiet();
  });

  it('keeps a connection whose first request is under way past the first-byte timeout', async () => {
    const exchange = await rawRequest(port, `POST /public/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab`);
    // Longer than the first-byte timeout, shorter than the headers timeout: still open.
    await sleep(700);
    exchange.socket.write('cd');
    await exchange.received(1);
    await settle(
      () => exchange.text(),
      (t) => t.includes('got abcd'),
      3000,
    );
    expect(statusOf(exchange.text())).toBe(200);
    expect(exchange.text()).toContain('got abcd');
    exchange.socket.destroy();
  });

  it('destroys the socket after a 400, even when the client keeps its side open', async () => {
    await quiet();
    const client = await stubbornClient('NOT HTTP AT ALL\r\n\r\n');
    expect(
      await settle(
        () => statusOf(client.text()),
        (s) => s !== 0,
        3000,
      ),
    ).toBe(400);
    // The server's descriptor goes away although the client never sent its FIN.
    expect(
      await settle(
        () => connectionsOf(gw.gateway.server),
        (n) => n === 0,
        5000,
      ),
    ).toBe(0);
    client.socket.destroy();
  });

  it('destroys the socket after a 431, even when the client keeps its side open', async () => {
    await quiet();
    const client = await stubbornClient(`GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    expect(
      await settle(
        () => statusOf(client.text()),
        (s) => s !== 0,
        3000,
      ),
    ).toBe(431);
    expect(
      await settle(
        () => connectionsOf(gw.gateway.server),
        (n) => n === 0,
        5000,
      ),
    ).toBe(0);
    client.socket.destroy();
  });

  it('closes connections beyond server.limits.connectionsPerIp at once and counts them', async () => {
    await quiet();
    const refusedBefore = await metricValue(gw.adminUrl, 'ropc_connections_refused_total{reason="per_ip"}');
    // Eight keep-alive connections that each finished a request: the cap is reached.
    const held = await Promise.all(Array.from({ length: 8 }, () => rawRequest(port, 'GET /public/a HTTP/1.1\r\nHost: x\r\n\r\n')));
    await Promise.all(
      held.map((h) =>
        settle(
          () => h.text(),
          (t) => t.includes('got '),
          3000,
        ),
      ),
    );
    const ninth = await rawRequest(port, 'GET /public/b HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await ninth.closed(3000)).toBe(true);
    expect(ninth.text()).toBe('');
    expect(await metricValue(gw.adminUrl, 'ropc_connections_refused_total{reason="per_ip"}')).toBe(refusedBefore + 1);
    // One goes away: a new connection is served again.
    held.pop()!.socket.destroy();
    await settle(
      () => connectionsOf(gw.gateway.server),
      (n) => n <= 7,
      3000,
    );
    const tenth = await rawRequest(port, 'GET /public/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await tenth.closed(3000);
    expect(statusOf(tenth.text())).toBe(200);
    for (const h of held) h.socket.destroy();
  });
});

describe('Expect: 100-continue', () => {
  const head = (auth: string) =>
    `POST /api/upload HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: text/plain\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`;

  it('answers an unauthenticated request 401 without ever sending 100 Continue', async () => {
    seen = [];
    const exchange = await rawRequest(port, head(''));
    await exchange.received(12);
    expect(exchange.text()).not.toContain('100 Continue');
    expect(statusOf(exchange.text())).toBe(401);
    // The body was never read: the connection is closed after the answer.
    expect(await exchange.closed(3000)).toBe(true);
    expect(seen).toEqual([]);
  });

  it('answers an invalid token 401 without 100 Continue', async () => {
    const exchange = await rawRequest(port, head('Authorization: Bearer not-a-token\r\n'));
    await exchange.received(12);
    expect(exchange.text()).not.toContain('100 Continue');
    expect(statusOf(exchange.text())).toBe(401);
  });

  it('sends 100 Continue once the token is authorized, then forwards the body', async () => {
    seen = [];
    const exchange = await rawRequest(port, head(`Authorization: Bearer ${token}\r\n`));
    await exchange.received(12);
    expect(exchange.text()).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    exchange.socket.write('hello');
    await settle(
      () => exchange.text(),
      (t) => t.includes('got hello'),
      3000,
    );
    expect(exchange.text()).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(seen).toEqual(['POST /api/upload']);
    exchange.socket.destroy();
  });

  it('still continues at once on the token endpoint, whose body is the credential', async () => {
    const body = `grant_type=password&username=joe&password=${USERS.joe.password}`;
    const exchange = await rawRequest(
      port,
      `POST /as/token.oauth2 HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicAuth()}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await exchange.received(12);
    expect(exchange.text()).toContain('100 Continue');
    exchange.socket.write(body);
    await settle(
      () => exchange.text(),
      (t) => t.includes('access_token'),
      5000,
    );
    expect(exchange.text()).toContain('"access_token"');
    exchange.socket.destroy();
  });
});

describe('bytes after a request', () => {
  it('serves a request with Connection: close and ignores the bytes after it, without a 400', async () => {
    seen = [];
    const exchange = await rawRequest(port, 'GET /public/once HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGARBAGE / HTTP/9\r\n\r\n');
    expect(await exchange.closed(5000)).toBe(true);
    const text = exchange.text();
    expect(statusOf(text)).toBe(200);
    expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
    expect(seen).toEqual(['GET /public/once']);
  });

  it('never writes a 400 into the answer of a pipelined request before it', async () => {
    seen = [];
    const exchange = await rawRequest(port, 'GET /public/first HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP\r\n\r\n');
    expect(await exchange.closed(5000)).toBe(true);
    const text = exchange.text();
    expect(statusOf(text)).toBe(200);
    expect(text).toContain('got ');
    expect(text).not.toContain('400 Bad Request');
    expect(seen).toEqual(['GET /public/first']);
  });
});

describe('the log line of a malformed request', () => {
  it('logs 400 and 431 as client errors, without header values', async () => {
    await request(`${gw.url}/public/ok`);
    (await rawRequest(port, 'BROKEN\r\n\r\n')).socket.once('close', () => undefined);
    const big = await rawRequest(
      port,
      `GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer SECRET-IN-HEADER\r\nX-Big: ${'s'.repeat(20 * 1024)}\r\n\r\n`,
    );
    await big.closed(3000);
    const lines = await settle(
      () => gw.logs().filter((l) => l.kind === 'client-error'),
      (l) => l.some((x) => x.status === 400) && l.some((x) => x.status === 431),
      3000,
    );
    expect(lines.find((l) => l.status === 431)).toMatchObject({
      msg: 'request',
      status: 431,
      error: 'HPE_HEADER_OVERFLOW',
      peer: '127.0.0.1',
    });
    expect(lines.find((l) => l.status === 400)).toMatchObject({ msg: 'request', status: 400 });
    expect(gw.logText()).not.toContain('SECRET-IN-HEADER');
    expect(gw.logText()).not.toContain('sssssssss');
  });
});

describe('with TLS', () => {
  let secure: TestGateway;
  let securePort: number;

  beforeAll(async () => {
    const cert = makeCertificate({ name: 'conns', cn: 'localhost' });
    secure = await startGateway({
      upstream: upstream.url,
      config: {
        server: {
          tls: { certFile: cert.certFile, keyFile: cert.keyFile },
          limits: { firstByteTimeoutMs: 300, headersTimeoutMs: 20000, requestTimeoutMs: 30000 },
        },
      },
    });
    securePort = Number(new URL(secure.url).port);
  });
  afterAll(async () => {
    await secure?.stop();
  });

  it('closes a connection that never starts its handshake', async () => {
    const exchange = await rawRequest(securePort, '');
    expect(await exchange.closed(5000)).toBe(true);
  });

  it('closes a connection that finished its handshake and then sends nothing', async () => {
    const socket = tls.connect({ port: securePort, host: '127.0.0.1', rejectUnauthorized: false });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    expect(closed).toBe(true);
    socket.destroy();
  });
});

describe('server.limits.maxConnections', () => {
  let other: TestGateway;
  let otherPort: number;
  let otherToken: string;

  beforeAll(async () => {
    other = await startGateway({
      upstream: upstream.url,
      config: { server: { limits: { maxConnections: 3, headersTimeoutMs: 20000, requestTimeoutMs: 30000 } } },
    });
    otherPort = Number(new URL(other.url).port);
    const res = await postForm(other.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, {
      authorization: basicAuth(),
    });
    otherToken = res.json.access_token as string;
    expect(
      await settle(
        () => connectionsOf(other.gateway.server),
        (n) => n === 0,
        8000,
      ),
    ).toBe(0);
  });
  afterAll(async () => {
    await other?.stop();
  });

  it('closes connections beyond maxConnections at once and counts them', async () => {
    const held = await Promise.all(Array.from({ length: 3 }, () => rawRequest(otherPort, 'GET /x HTTP/1.1\r\nHost: x\r\n')));
    await settle(
      () => connectionsOf(other.gateway.server),
      (n) => n === 3,
      3000,
    );
    const fourth = await rawRequest(otherPort, 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await fourth.closed(3000)).toBe(true);
    expect(fourth.text()).toBe('');
    expect(await metricValue(other.adminUrl, 'ropc_connections_refused_total{reason="max"}')).toBe(1);
    for (const h of held) h.socket.destroy();
  });

  it('sends 100 Continue only after authorization with maxConnections set too', async () => {
    await settle(
      () => connectionsOf(other.gateway.server),
      (n) => n === 0,
      5000,
    );
    const head = (auth: string) => `POST /api/upload HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`;
    const refused = await rawRequest(otherPort, head(''));
    await refused.received(12);
    expect(refused.text()).not.toContain('100 Continue');
    expect(statusOf(refused.text())).toBe(401);

    const allowed = await rawRequest(otherPort, head(`Authorization: Bearer ${otherToken}\r\n`));
    await allowed.received(12);
    expect(allowed.text()).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    allowed.socket.write('hello');
    await settle(
      () => allowed.text(),
      (t) => t.includes('got hello'),
      3000,
    );
    expect(allowed.text()).toContain('got hello');
    allowed.socket.destroy();
    refused.socket.destroy();
  });
});
