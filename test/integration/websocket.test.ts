/**
 * WebSocket through the gateway (issue "WebSocket"): the same route rules and token check as
 * a request, refused with the RFC 6750 challenge BEFORE the upgrade; then proxied to a real
 * WebSocket server (ws) with the identity headers injected.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { deadPort } from '../support/echo-upstream.js';

let gw: TestGateway;
let upstream: http.Server;
let wss: WebSocketServer;
let upstreamUrl: string;
let token: string;
/** Headers of every upgrade request the upstream accepted. */
const upgrades: http.IncomingHttpHeaders[] = [];

beforeAll(async () => {
  upstream = http.createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('no such socket');
  });
  wss = new WebSocketServer({ noServer: true });
  upstream.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/ws/nope')) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      upgrades.push(req.headers);
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${data.toString()}`, { binary: isBinary }));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const dead = await deadPort();
  gw = await startGateway({
    upstream: upstreamUrl,
    config: {
      routes: [
        { path: '/ws/public', auth: 'none' },
        { path: '/ws/admin', scopes: ['admin'] },
        { path: '/ws/dead', upstream: `http://127.0.0.1:${dead}` },
      ],
    },
  });
  const res = await postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}&scope=read%20edit`, {
    authorization: basicAuth(),
  });
  token = res.json.access_token as string;
});
afterAll(async () => {
  await gw?.stop();
  wss?.close();
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
});

const wsUrl = (path: string) => `${gw.url.replace('http:', 'ws:')}${path}`;

/** Opens a WebSocket; resolves with the open socket, or the refusal's status, headers and body. */
function connect(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ ws?: WebSocket; status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(path), { headers });
    ws.once('open', () => resolve({ ws, status: 101, headers: {}, body: '' }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.once('error', reject);
  });
}

function roundTrip(ws: WebSocket, message: string | Buffer): Promise<Buffer | string> {
  return new Promise((resolve) => {
    ws.once('message', (data, isBinary) => resolve(isBinary ? (data as Buffer) : data.toString()));
    ws.send(message);
  });
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return Number(line?.split(' ').pop() ?? NaN);
}

describe('refused before the upgrade', () => {
  it('answers 401 with the bare Bearer challenge when no token is sent', async () => {
    const before = upgrades.length;
    const res = await connect('/ws/chat');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="ropc-gateway"');
    expect(res.headers.connection).toBe('close');
    expect(upgrades.length).toBe(before);
  });

  it('answers 401 invalid_token for a bad token', async () => {
    const res = await connect('/ws/chat', { authorization: `Bearer ${token}x` });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="ropc-gateway", error="invalid_token"/);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_token' });
  });

  it('answers 403 insufficient_scope when the route needs a scope the token lacks', async () => {
    const res = await connect('/ws/admin', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(res.headers['www-authenticate']).toContain('scope="admin"');
  });

  it('never upgrades on an OAuth endpoint path', async () => {
    const res = await connect('/as/token.oauth2', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(400);
    expect(res.headers['www-authenticate']).toContain('error="invalid_request"');
  });

  it('refuses other upgrade protocols with 400', async () => {
    const text = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1', () =>
        socket.write(
          `GET /ws/chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nAuthorization: Bearer ${token}\r\n\r\n`,
        ),
      );
      let out = '';
      socket.on('data', (c: Buffer) => (out += c.toString()));
      socket.on('close', () => resolve(out));
    });
    expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(text).toContain('error="invalid_request"');
  });
});

describe('proxied', () => {
  it('upgrades with a valid token, injects the identity and strips forged headers', async () => {
    const res = await connect('/ws/chat?room=1', {
      authorization: `Bearer ${token}`,
      'x-auth-subject': 'root',
      'x-auth-anything': '1',
      'x-request-id': 'ws-1',
    });
    expect(res.status).toBe(101);
    const ws = res.ws as WebSocket;
    expect(await roundTrip(ws, 'hello')).toBe('echo:hello');
    const big = Buffer.alloc(256 * 1024, 9);
    expect(((await roundTrip(ws, big)) as Buffer).equals(big)).toBe(true);
    const seen = upgrades.at(-1) as http.IncomingHttpHeaders;
    expect(seen['x-auth-subject']).toBe('joe');
    expect(seen['x-auth-scope']).toBe('read edit');
    expect(seen).not.toHaveProperty('authorization');
    expect(seen).not.toHaveProperty('x-auth-anything');
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-request-id']).toBe('ws-1');
    expect(seen.upgrade).toBe('websocket');
    expect(await metric('ropc_websocket_connections')).toBe(1);
    ws.close();
    await new Promise((resolve) => ws.once('close', resolve));
    await expect.poll(() => metric('ropc_websocket_connections'), { timeout: 2000 }).toBe(0);
  });

  it('upgrades on a public route without a token, injecting no identity', async () => {
    const res = await connect('/ws/public', { 'x-auth-subject': 'root' });
    expect(res.status).toBe(101);
    expect(await roundTrip(res.ws as WebSocket, 'hi')).toBe('echo:hi');
    expect(upgrades.at(-1)).not.toHaveProperty('x-auth-subject');
    res.ws?.close();
  });

  it("relays the upstream's refusal of the upgrade", async () => {
    const res = await connect('/ws/nope', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(404);
  });

  it('answers 502 when the upstream is down', async () => {
    const res = await connect('/ws/dead', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'upstream_unavailable' });
  });

  it('logs and counts the handshake like a request', async () => {
    const lines = gw.logs().filter((l) => l.msg === 'request' && l.kind === 'websocket');
    expect(lines.map((l) => l.status)).toEqual(expect.arrayContaining([101, 401, 403, 400, 404, 502]));
    // The 502's cause, for the log only.
    expect(lines.find((l) => l.status === 502)).toMatchObject({ error: 'upstream_unavailable', detail: 'ECONNREFUSED' });
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(text).toMatch(/ropc_resource_requests_total\{route="\(default\)",status="101"\} [1-9]/);
    expect(text).toMatch(/ropc_http_requests_total\{kind="websocket",status="401"\} [1-9]/);
  });
});
