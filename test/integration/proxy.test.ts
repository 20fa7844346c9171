/** The protected proxy end to end: header scrubbing and injection, streaming, 502/504, aborts. */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useGateway } from '../support/use-gateway.js';
import { deadPort, startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { waitFor } from '../support/wait-for.js';

let slow: Upstream;
let token: string;
let slowAborted = 0;
let slowArrived = 0;

const env = useGateway({
  // The second upstream starts first: the configuration routes /slow/** to it.
  config: async () => {
    slow = await startEchoUpstream((req, res) => {
      slowArrived += 1;
      req.on('close', () => {
        if (!res.writableEnded) slowAborted += 1;
      });
      if (req.url === '/slow/stream') {
        // Echo a request body back as it arrives, to prove streaming both ways.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
        return;
      }
      if (req.url === '/slow/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.alloc(200 * 1024, 7));
        return;
      }
      // '/hang': never answers.
    });
    const dead = await deadPort();
    return {
      upstream: { timeoutMs: 1500 },
      routes: [
        { path: '/public', auth: 'none' },
        { path: '/slow/**', upstream: slow.url },
        { path: '/dead', upstream: `http://127.0.0.1:${dead}` },
      ],
    };
  },
});
beforeAll(async () => {
  token = await env.accessToken('joe', { scope: 'read edit' });
});
afterAll(() => slow?.close());

async function echoed(
  path: string,
  headers: Record<string, string> | string[] = {},
): Promise<{ status: number; body: { method: string; path: string; headers: Record<string, string> } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${env.gw.url}${path}`, { headers: headers as Record<string, string> }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          reject(new Error(`status ${res.statusCode}: not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('identity headers', () => {
  it('injects the identity and removes Authorization', async () => {
    const { status, body } = await echoed('/api/items?q=1', { authorization: `Bearer ${token}` });
    expect(status).toBe(200);
    expect(body.path).toBe('/api/items?q=1');
    expect(body.headers['x-auth-subject']).toBe('joe');
    expect(body.headers['x-auth-client-id']).toBe('app');
    expect(body.headers['x-auth-scope']).toBe('read edit');
    expect(body.headers['x-auth-groups']).toBe('editors');
    expect(body.headers).not.toHaveProperty('authorization');
    expect(body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(body.headers['x-forwarded-proto']).toBe('http');
    expect(body.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never forwards a forged identity header, in any case, duplicated, or named by Connection', async () => {
    const forged = [
      'Host',
      'gateway.test',
      'authorization',
      `Bearer ${token}`,
      'X-Auth-Subject',
      'admin',
      'x-auth-subject',
      'root',
      'X-AUTH-GROUPS',
      'admins',
      'X-Auth-Anything',
      'x',
      'X-Forwarded-For',
      '10.0.0.1',
      'Connection',
      'keep-alive, X-Secret-Hop',
      'X-Secret-Hop',
      'hop',
    ];
    const { body } = await echoed('/api', forged);
    expect(body.headers['x-auth-subject']).toBe('joe');
    expect(body.headers['x-auth-groups']).toBe('editors');
    expect(body.headers).not.toHaveProperty('x-auth-anything');
    expect(body.headers).not.toHaveProperty('x-secret-hop');
    expect(body.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('strips forged identity headers on public routes too, and injects none', async () => {
    const { status, body } = await echoed('/public', ['Host', 'gateway.test', 'X-Auth-Subject', 'admin', 'x-auth-scope', 'admin']);
    expect(status).toBe(200);
    expect(body.headers).not.toHaveProperty('x-auth-subject');
    expect(body.headers).not.toHaveProperty('x-auth-scope');
  });

  it('propagates a safe inbound X-Request-Id and replaces an unsafe one', async () => {
    expect((await echoed('/public', { 'x-request-id': 'abc-123' })).body.headers['x-request-id']).toBe('abc-123');
    expect((await echoed('/public', { 'x-request-id': 'a b<c>' })).body.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses paths with dot-segments or encoded slashes', async () => {
    // A raw request: fetch() would resolve the dot-segments itself.
    for (const path of ['/public/../admin', '/public/./x', '/public/%2e%2e/admin', '/public%2Fadmin', '/public\\..\\admin']) {
      const status = await new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: new URL(env.gw.url).port, path }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
      expect(status, path).toBe(400);
    }
  });
});

describe('upstream faults and streaming', () => {
  it('answers 502 when the upstream refuses', async () => {
    const res = await fetch(`${env.gw.url}/dead`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(502);
    const body = await res.text();
    expect(JSON.parse(body)).toEqual({
      error: 'upstream_unavailable',
      error_description: 'the upstream refused or dropped the connection',
    });
    // The cause goes to the completion log line only (docs/operations.md, "Logs").
    expect(body).not.toContain('ECONNREFUSED');
    const line = env.gw.logs().find((l) => l.msg === 'request' && l.status === 502);
    expect(line).toMatchObject({ error: 'upstream_unavailable', detail: 'ECONNREFUSED' });
  });

  it('answers 504 when the upstream does not answer within upstream.timeoutMs', async () => {
    const started = Date.now();
    const res = await fetch(`${env.gw.url}/slow/hang`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('streams 200 KB request and response bodies', async () => {
    const payload = Buffer.alloc(200 * 1024, 3);
    const res = await fetch(`${env.gw.url}/slow/stream`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: payload });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(payload)).toBe(true);
    const big = await fetch(`${env.gw.url}/slow/big`, { headers: { authorization: `Bearer ${token}` } });
    expect((await big.arrayBuffer()).byteLength).toBe(200 * 1024);
  });

  it('aborts the upstream request when the client goes away', async () => {
    const before = slowAborted;
    const arrived = slowArrived;
    const controller = new AbortController();
    const pending = fetch(`${env.gw.url}/slow/hang`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal }).catch(
      () => undefined,
    );
    await waitFor(() => slowArrived > arrived, 5000, 'the request to reach the upstream');
    controller.abort();
    await pending;
    // Well before the 1.5 s upstream timeout could be the cause.
    await expect.poll(() => slowAborted, { timeout: 1000, interval: 20 }).toBeGreaterThan(before);
  });
});
