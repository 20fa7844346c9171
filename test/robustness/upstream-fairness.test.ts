/**
 * One caller cannot take every upstream connection (docs/operations.md, "Upstream fairness"):
 * a token holder with many slow uploads gets 429 beyond upstream.maxConcurrentPerSubject
 * while another user's request still goes through the same small pool; public routes are
 * shared per client IP (one share for every spelling of one address); and a body that does not arrive within server.limits.requestTimeoutMs,
 * or trickles in below server.limits.minBodyBytesPerSecond, is cut with 408 and its upstream
 * request aborted. Real gateway, real upstream, raw sockets.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { metricValue, rawRequest, settle, sleep, statusOf, type RawExchange } from './support.js';

let upstream: Upstream;
let started: string[] = [];
let aborted = 0;

beforeAll(async () => {
  // Reads each body as it arrives and answers when it is complete.
  upstream = await startEchoUpstream((req, res) => {
    started.push(`${req.method} ${req.url}`);
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => res.end(`got ${size}`));
    req.on('close', () => {
      if (!res.writableEnded) aborted += 1;
    });
  });
});
afterAll(async () => {
  await upstream?.close();
});

async function tokenFor(gw: TestGateway, user: { username: string; password: string }): Promise<string> {
  const res = await postForm(
    gw.tokenUrl,
    `grant_type=password&username=${encodeURIComponent(user.username)}&password=${encodeURIComponent(user.password)}`,
    {
      authorization: basicAuth(),
    },
  );
  return res.json.access_token as string;
}

/** Starts an upload of `length` bytes and sends only its first few. */
function slowUpload(port: number, path: string, token?: string, forwardedFor?: string): Promise<RawExchange> {
  const auth = token ? `Authorization: Bearer ${token}\r\n` : '';
  const xff = forwardedFor ? `X-Forwarded-For: ${forwardedFor}\r\n` : '';
  return rawRequest(
    port,
    `POST ${path} HTTP/1.1\r\nHost: x\r\n${auth}${xff}Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n0123456789`,
  );
}

/** A small POST on a connection of its own; rejects when no answer came within `timeoutMs`. */
function post(url: string, token: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent: false, timeout: timeoutMs, headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' } },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end('hello');
  });
}

/** A gateway with two requests per client IP on /public/** (no body or connection limits in the way), `server` and `upstreamConfig` over it. */
function fairGateway(server: Record<string, unknown>, upstreamConfig: Record<string, unknown>): Promise<TestGateway> {
  return startGateway({
    upstream: upstream.url,
    config: {
      server: { ...server, limits: { requestTimeoutMs: 60000, headersTimeoutMs: 20000, connectionsPerIp: 0, minBodyBytesPerSecond: 0 } },
      upstream: { maxConcurrentPerIp: 2, timeoutMs: 20000, ...upstreamConfig },
      routes: [{ path: '/public/**', auth: 'none' }],
    },
  });
}

describe('fair shares of the upstream pool', () => {
  let gw: TestGateway;
  let port: number;
  const uploads: RawExchange[] = [];

  beforeAll(async () => {
    gw = await fairGateway({}, { maxSockets: 4, maxConcurrentPerSubject: 2 });
    port = Number(new URL(gw.url).port);
  });
  afterAll(async () => {
    for (const u of uploads) u.socket.destroy();
    await gw?.stop();
  });

  it("answers 429 beyond one subject's share, and another user is still served", async () => {
    started = [];
    const joe = await tokenFor(gw, USERS.joe);
    const alice = await tokenFor(gw, USERS.alice);
    const throttledBefore = await metricValue(gw.adminUrl, 'ropc_upstream_throttled_total{by="subject"}');
    // Eight slow uploads of one token holder, against a pool of four connections.
    for (let i = 0; i < 8; i += 1) uploads.push(await slowUpload(port, `/up/joe-${i}`, joe));
    await settle(
      () => started.length,
      (n) => n >= 2,
      5000,
    );
    const refused = await Promise.all(
      uploads.slice(2).map(async (u) => {
        await u.closed(5000);
        return u.text();
      }),
    );
    for (const text of refused) {
      expect(statusOf(text)).toBe(429);
      expect(text).toMatch(/\r\nretry-after: 1\r\n/i);
      expect(text).toContain('"error":"temporarily_unavailable"');
    }
    expect(started).toEqual(['POST /up/joe-0', 'POST /up/joe-1']);
    expect(await metricValue(gw.adminUrl, 'ropc_upstream_throttled_total{by="subject"}')).toBe(throttledBefore + 6);

    // Another user's request finds a free upstream connection.
    const res = await post(`${gw.url}/up/alice`, alice, 5000);
    expect(res).toEqual({ status: 200, body: 'got 5' });
  });

  it("frees a share when one of the subject's requests ends", async () => {
    const joe = await tokenFor(gw, USERS.joe);
    uploads[0]!.socket.destroy();
    // The slot is released when the client's answer closes.
    const res = await settle(
      () => post(`${gw.url}/up/joe-again`, joe, 5000),
      (r) => r.status === 200,
      5000,
    );
    expect(res).toEqual({ status: 200, body: 'got 5' });
  });

  it('shares public routes per client IP', async () => {
    started = [];
    const open = [await slowUpload(port, '/public/a'), await slowUpload(port, '/public/b')];
    uploads.push(...open);
    await settle(
      () => started.length,
      (n) => n >= 2,
      5000,
    );
    const third = await slowUpload(port, '/public/c');
    uploads.push(third);
    await third.closed(5000);
    expect(statusOf(third.text())).toBe(429);
    expect(started).toEqual(['POST /public/a', 'POST /public/b']);
  });
});

describe('fair shares per client IP behind a trusted proxy', () => {
  let gw: TestGateway;
  let port: number;
  const uploads: RawExchange[] = [];

  beforeAll(async () => {
    gw = await fairGateway({ trustProxy: true }, { maxSockets: 8 });
    port = Number(new URL(gw.url).port);
  });
  afterAll(async () => {
    for (const u of uploads) u.socket.destroy();
    await gw?.stop();
  });

  it('counts one client under one share however X-Forwarded-For spells its address (IPv6 by its /64)', async () => {
    started = [];
    uploads.push(
      await slowUpload(port, '/public/a', undefined, '2001:db8::1'),
      await slowUpload(port, '/public/b', undefined, '2001:DB8:0::0001%eth0'),
    );
    await settle(
      () => started.length,
      (n) => n >= 2,
      5000,
    );
    // Another address of the same /64 is the same client, as for the lockout.
    for (const spelling of ['[2001:db8:0:0:0:0:0:1]:443', '[2001:db8::1%1]', '2001:db8::abcd']) {
      const over = await slowUpload(port, '/public/over', undefined, spelling);
      uploads.push(over);
      await over.closed(5000);
      expect(statusOf(over.text())).toBe(429);
    }
    // The same spellings of IPv4-mapped addresses are one IPv4 client.
    uploads.push(
      await slowUpload(port, '/public/c', undefined, '192.0.2.1'),
      await slowUpload(port, '/public/d', undefined, '::ffff:c000:201'),
    );
    await settle(
      () => started.length,
      (n) => n >= 4,
      5000,
    );
    const mapped = await slowUpload(port, '/public/over', undefined, '[::FFFF:192.0.2.1]:80');
    uploads.push(mapped);
    await mapped.closed(5000);
    expect(statusOf(mapped.text())).toBe(429);
    // The next /64 is another client.
    uploads.push(await slowUpload(port, '/public/e', undefined, '2001:db8:0:1::1'));
    await settle(
      () => started.length,
      (n) => n >= 5,
      5000,
    );
    expect(started).toEqual(['POST /public/a', 'POST /public/b', 'POST /public/c', 'POST /public/d', 'POST /public/e']);
  });
});

describe('a body that does not arrive in time', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({
      upstream: upstream.url,
      config: { server: { limits: { requestTimeoutMs: 1500, headersTimeoutMs: 1000, minBodyBytesPerSecond: 0 } } },
    });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('is cut with 408 while forwarded, and its upstream request is aborted', async () => {
    const joe = await tokenFor(gw, USERS.joe);
    started = [];
    const abortedBefore = aborted;
    const upload = await slowUpload(Number(new URL(gw.url).port), '/up/slow', joe);
    await settle(
      () => started.length,
      (n) => n >= 1,
      5000,
    );
    expect(await upload.closed(8000)).toBe(true);
    expect(statusOf(upload.text())).toBe(408);
    expect(
      await settle(
        () => aborted,
        (n) => n > abortedBefore,
        3000,
      ),
    ).toBe(abortedBefore + 1);
    const line = await settle(
      () => gw.logs().find((l) => l.msg === 'request' && l.status === 408),
      (l) => l !== undefined,
      3000,
    );
    expect(line).toMatchObject({ kind: 'resource', sub: 'joe' });
  });
});

describe('a body that trickles in', () => {
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    gw = await startGateway({
      upstream: upstream.url,
      config: { server: { limits: { requestTimeoutMs: 60000, headersTimeoutMs: 20000, minBodyBytesPerSecond: 100 } } },
    });
    port = Number(new URL(gw.url).port);
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('is cut with 408 below server.limits.minBodyBytesPerSecond, long before the request timeout', async () => {
    const joe = await tokenFor(gw, USERS.joe);
    started = [];
    const abortedBefore = aborted;
    const upload = await slowUpload(port, '/up/trickle', joe);
    const drip = setInterval(() => upload.socket.write('x'), 500);
    try {
      expect(await upload.closed(15000)).toBe(true);
    } finally {
      clearInterval(drip);
    }
    expect(statusOf(upload.text())).toBe(408);
    expect(started).toEqual(['POST /up/trickle']);
    expect(
      await settle(
        () => aborted,
        (n) => n > abortedBefore,
        3000,
      ),
    ).toBe(abortedBefore + 1);
  });

  it('lets a body through that keeps above the minimum, however long it takes', async () => {
    const joe = await tokenFor(gw, USERS.joe);
    const chunk = 'y'.repeat(1000);
    const total = 14;
    const upload = await rawRequest(
      port,
      `POST /up/steady HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${joe}\r\nContent-Length: ${chunk.length * total}\r\nConnection: close\r\n\r\n`,
    );
    // 1000 bytes every 500 ms for 7 s: more than one rate window.
    for (let i = 0; i < total; i += 1) {
      upload.socket.write(chunk);
      await sleep(500);
    }
    expect(await upload.closed(5000)).toBe(true);
    expect(statusOf(upload.text())).toBe(200);
    expect(upload.text()).toContain(`got ${chunk.length * total}`);
  });
});
