/**
 * Hostile input on the token endpoint (issue: robustness): size and time limits and malformed
 * values each get a clean 4xx (RFC 6749 §5.2 body where a body is possible), never a 5xx,
 * never a crash; the gateway keeps serving afterwards.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';

let gw: TestGateway;
let upstream: Upstream;
let port: number;
const TOKEN_PATH = '/as/token.oauth2';

beforeAll(async () => {
  upstream = await startEchoUpstream();
  gw = await startGateway({ upstream: upstream.url, config: { server: { limits: { headersTimeoutMs: 1000, requestTimeoutMs: 2000 } } } });
  port = Number(new URL(gw.url).port);
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

/** Sends raw bytes and resolves with what the server answered before it closed (or after `waitMs`). */
function raw(request: string | Buffer, waitMs = 5000): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ text, closedAfterMs: Date.now() - started }));
    setTimeout(() => {
      socket.destroy();
      resolve({ text, closedAfterMs: Date.now() - started });
    }, waitMs).unref();
    void reject;
  });
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

async function stillServes(): Promise<void> {
  const res = await postForm(`${gw.url}${TOKEN_PATH}`, `grant_type=password&username=joe&password=${USERS.joe.password}`, {
    authorization: basicAuth(),
  });
  expect(res.status).toBe(200);
}

describe('size and time limits', () => {
  it('answers 413 to a declared 10 MB body at once, without reading it', async () => {
    const { text, closedAfterMs } = await raw(
      `POST ${TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10485760\r\n\r\ngrant_type=password`,
    );
    expect(statusOf(text)).toBe(413);
    expect(text).toContain('"error":"invalid_request"');
    expect(closedAfterMs).toBeLessThan(3000);
  });

  it('answers 413 to a chunked body as soon as it passes the limit', async () => {
    const chunk = 'a'.repeat(8192);
    const chunks = Array.from({ length: 4 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('');
    const { text } = await raw(
      `POST ${TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}`,
    );
    expect(statusOf(text)).toBe(413);
  });

  it('answers 431 to 20 KB of headers', async () => {
    const { text } = await raw(`GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    expect(statusOf(text)).toBe(431);
  });

  it('answers 400 to 5,000 form parameters', async () => {
    const body = Array.from({ length: 5000 }, (_, i) => `p${i}=1`)
      .join('&')
      .slice(0, 16000);
    const res = await postForm(`${gw.url}${TOKEN_PATH}`, body, { authorization: basicAuth() });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_request');
  });

  it('disconnects a client that never finishes its headers (slowloris)', async () => {
    const { closedAfterMs, text } = await raw(`POST ${TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nX-Slow: `, 8000);
    expect(closedAfterMs).toBeLessThan(6000);
    expect([0, 408]).toContain(statusOf(text));
    await stillServes();
  });

  it('disconnects a client that never finishes its body', async () => {
    const { closedAfterMs } = await raw(
      `POST ${TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=`,
      10_000,
    );
    expect(closedAfterMs).toBeLessThan(8000);
    await stillServes();
  });
});

describe('malformed input gets a 4xx with an RFC error body', () => {
  const cases: Array<[string, string, Record<string, string>]> = [
    ['invalid base64 in Basic', 'grant_type=password&username=joe&password=x', { authorization: 'Basic ***' }],
    [
      'invalid percent-encoding in Basic',
      'grant_type=password&username=joe&password=x',
      { authorization: `Basic ${Buffer.from('app:%E0%A4%A').toString('base64')}` },
    ],
    [
      'Basic without a colon',
      'grant_type=password&username=joe&password=x',
      { authorization: `Basic ${Buffer.from('app').toString('base64')}` },
    ],
    [
      'invalid UTF-8 in Basic',
      'grant_type=password&username=joe&password=x',
      { authorization: `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}` },
    ],
    ['a non-Basic scheme', 'grant_type=password&username=joe&password=x', { authorization: 'Negotiate abc' }],
    ['invalid UTF-8 in a form value', 'grant_type=password&username=%FF%FE&password=x', { authorization: basicAuth() }],
    ['a NUL byte in a form value', 'grant_type=password&username=joe&password=a%00b', { authorization: basicAuth() }],
    ['=&&==& style body', '=&&==&', { authorization: basicAuth() }],
    ['a raw non-ASCII byte', 'grant_type=password&username=jo\u00e9&password=x', { authorization: basicAuth() }],
    ['an unknown scope character', 'grant_type=password&username=joe&password=x&scope=%22', { authorization: basicAuth() }],
  ];
  for (const [name, body, headers] of cases) {
    it(name, async () => {
      const res = await postForm(`${gw.url}${TOKEN_PATH}`, body, headers);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(['invalid_request', 'invalid_client', 'invalid_scope', 'invalid_grant']).toContain(res.json.error);
      expect(res.headers.get('cache-control')).toBe('no-store');
    });
  }

  it('keeps serving after all of it', stillServes);
});
