/**
 * The `http` validator against a real local HTTP(S) service: what it sends, and how each kind
 * of answer maps to valid / invalid / unavailable.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HttpValidatorConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { HttpValidator } from '../../src/validators/http.js';
import { ValidatorUnavailableError } from '../../src/validators/types.js';
import { deadPort } from '../support/echo-upstream.js';
import { selfSignedCert } from '../support/start-slapd.js';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** What the service does with the next requests; each test sets it. */
let behave: (req: Received, res: http.ServerResponse) => void;
const received: Received[] = [];
const sockets = new Set<import('node:net').Socket>();

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    received.push(r);
    behave(r, res);
  });
}

const json = (status: number, value: unknown) => (_req: Received, res: http.ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof value === 'string' ? value : JSON.stringify(value));
};
const PRINCIPAL = { subject: 'joe', groups: ['editors'], attributes: { email: 'joe@example.org' } };

let server: http.Server;
let url: string;
let logs = '';
const logger = createLogger(
  'debug',
  new Writable({
    write(chunk: Buffer, _enc, done) {
      logs += chunk.toString();
      done();
    },
  }),
);
const opened: HttpValidator[] = [];

async function listen(s: http.Server): Promise<number> {
  s.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return (s.address() as AddressInfo).port;
}

/**
 * A validator of the local service. Its `timeoutMs` is far beyond any answer of the service, however
 * busy the machine (a first TLS handshake on a loaded machine can take over a second), so only the
 * tests of the time bound, which set their own short one, ever see it.
 */
async function open(overrides: Partial<HttpValidatorConfig> = {}): Promise<HttpValidator> {
  const v = await HttpValidator.open(
    {
      name: 'legacy',
      type: 'http',
      caseSensitive: false,
      subjectPrefix: '',
      groupScopes: {},
      url: `${url}/verify`,
      timeoutMs: 30_000,
      tlsCaFile: '',
      headers: { 'X-Api-Key': 'k-123' },
      healthUrl: '',
      ...overrides,
    },
    logger,
  );
  opened.push(v);
  return v;
}

beforeAll(async () => {
  server = http.createServer(handler);
  url = `http://127.0.0.1:${await listen(server)}`;
});
beforeEach(() => {
  received.length = 0;
  behave = json(200, PRINCIPAL);
});
afterAll(async () => {
  await Promise.all(opened.map((v) => v.close()));
  for (const s of sockets) s.destroy();
  server.close();
});

async function outage(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidatorUnavailableError);
  return (err as Error).message;
}

describe('what it sends', () => {
  it('POSTs JSON {username, password} with the static headers; the username canonicalised', async () => {
    const v = await open();
    const password = 'p&ss=w+rd%20ünï€😀';
    await expect(v.validate('ＪＯＥ', password)).resolves.toEqual({ valid: true, principal: PRINCIPAL });
    const [req] = received;
    expect(req).toMatchObject({ method: 'POST', url: '/verify' });
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['x-api-key']).toBe('k-123');
    expect(JSON.parse(req!.body)).toEqual({ username: 'joe', password });
  });

  it('keeps the case with caseSensitive', async () => {
    const v = await open({ caseSensitive: true });
    await v.validate('Joe', 'pw');
    expect(JSON.parse(received[0]!.body)).toEqual({ username: 'Joe', password: 'pw' });
  });

  it('refuses an empty password without calling the service', async () => {
    const v = await open();
    await expect(v.validate('joe', '')).resolves.toMatchObject({ valid: false });
    expect(received).toHaveLength(0);
  });
});

describe('how answers map', () => {
  it('200 with a principal is valid; groups and attributes may be left out', async () => {
    const v = await open();
    behave = json(200, { subject: 'joe' });
    await expect(v.validate('joe', 'pw')).resolves.toEqual({ valid: true, principal: { subject: 'joe', groups: [], attributes: {} } });
  });

  it.each([401, 403])('%i is invalid-password: it cannot tell an unknown user, so a first-known chain stops', async (status) => {
    const v = await open();
    behave = json(status, { error: 'bad credentials' });
    await expect(v.validate('joe', 'wrong')).resolves.toEqual({ valid: false, reason: 'invalid-password' });
  });

  it.each([
    [500, /answered HTTP 500/],
    [503, /answered HTTP 503/],
    [404, /answered HTTP 404/],
    [400, /answered HTTP 400/],
    [204, /answered HTTP 204/],
  ])('%i is an outage', async (status, reason) => {
    const v = await open();
    behave = (_r, res) => {
      res.writeHead(status);
      res.end();
    };
    expect(await outage(v.validate('joe', 'pw'))).toMatch(reason);
  });

  it('a redirect is an outage, never followed', async () => {
    const v = await open();
    behave = (_r, res) => {
      res.writeHead(302, { location: `${url}/elsewhere` });
      res.end();
    };
    expect(await outage(v.validate('joe', 'pw'))).toMatch(/answered HTTP 302/);
    expect(received.map((r) => r.url)).toEqual(['/verify']);
  });

  it.each([
    ['not JSON', '{"subject":', /not JSON/],
    ['not an object', '["joe"]', /not a JSON object/],
    ['no subject', { groups: [] }, /no subject/],
    ['an empty subject', { subject: ' ' }, /no subject/],
    ['groups not a list', { subject: 'joe', groups: 'editors' }, /groups/],
    ['a group not a string', { subject: 'joe', groups: ['editors', 7] }, /groups/],
    ['attributes not strings', { subject: 'joe', attributes: { age: 42 } }, /attributes/],
  ])('a 200 with %s is an outage', async (_what, body, reason) => {
    const v = await open();
    behave = json(200, body);
    expect(await outage(v.validate('joe', 'pw'))).toMatch(reason);
  });

  it('a 200 with a huge body is an outage', async () => {
    const v = await open();
    behave = json(200, { ...PRINCIPAL, attributes: { blob: 'x'.repeat(100_000) } });
    expect(await outage(v.validate('joe', 'pw'))).toMatch(/body over/);
  });

  it('no answer within timeoutMs is an outage', async () => {
    const v = await open({ timeoutMs: 300 });
    behave = () => undefined; // never answers: without the timeout the test itself would time out
    expect(await outage(v.validate('joe', 'pw'))).toMatch(/no answer within 300 ms/);
  });

  it('a body that stalls after the headers is an outage', async () => {
    const v = await open({ timeoutMs: 300 });
    behave = (_r, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"subject":');
    };
    expect(await outage(v.validate('joe', 'pw'))).toMatch(/no answer within 300 ms|request failed/);
  });

  it('a refused connection is an outage', async () => {
    const v = await open({ url: `http://127.0.0.1:${await deadPort()}/verify` });
    expect(await outage(v.validate('joe', 'pw'))).toMatch(/ECONNREFUSED/);
  });

  it('never logs the password or the static headers', async () => {
    const v = await open();
    behave = json(500, {});
    await outage(v.validate('joe', 'secret-pw-4711'));
    expect(logs).not.toContain('secret-pw-4711');
    expect(logs).not.toContain('k-123');
  });

  it('cannot re-check a subject: unsupported (the refresh proceeds)', async () => {
    const v = await open();
    await expect(v.recheck()).resolves.toBe('unsupported');
  });
});

describe('health', () => {
  it('without healthUrl: down after an outage, up again after an answer', async () => {
    const v = await open();
    expect(await v.health()).toMatchObject({ name: 'legacy', type: 'http', status: 'up' });
    behave = json(500, {});
    await outage(v.validate('joe', 'pw'));
    expect(await v.health()).toMatchObject({ status: 'down', detail: 'last call: answered HTTP 500' });
    behave = json(401, {});
    await v.validate('joe', 'pw');
    expect((await v.health()).status).toBe('up');
  });

  it('with healthUrl: a GET answered 2xx is up, anything else down', async () => {
    const v = await open({ healthUrl: `${url}/health` });
    behave = json(200, { ok: true });
    expect(await v.health()).toMatchObject({ status: 'up' });
    expect(received.at(-1)).toMatchObject({ method: 'GET', url: '/health' });
    behave = json(503, {});
    expect(await v.health()).toMatchObject({ status: 'down', detail: expect.stringMatching(/503/) });
    // The probe waits timeoutMs, at most a second: a short timeoutMs is its bound.
    behave = () => undefined;
    const short = await open({ healthUrl: `${url}/health`, timeoutMs: 300 });
    expect(await short.health()).toMatchObject({ status: 'down', detail: 'no answer within 300 ms' });
  });
});

describe('HTTPS', () => {
  let dir: string;
  let secure: https.Server;
  let secureUrl: string;
  let ca: string;
  let wrongCa: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ropc-http-tls-'));
    const cert = await selfSignedCert(dir, 'service');
    wrongCa = (await selfSignedCert(dir, 'other')).certFile;
    ca = cert.certFile;
    secure = https.createServer({ cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) }, handler);
    secureUrl = `https://127.0.0.1:${await listen(secure)}/verify`;
  });
  afterAll(() => {
    secure?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('verifies the service with tlsCaFile', async () => {
    const v = await open({ url: secureUrl, tlsCaFile: ca });
    await expect(v.validate('joe', 'pw')).resolves.toEqual({ valid: true, principal: PRINCIPAL });
  });

  it('refuses a certificate the CA does not verify, and one the system CAs do not know', async () => {
    expect(await outage((await open({ url: secureUrl, tlsCaFile: wrongCa })).validate('joe', 'pw'))).toMatch(/CERT|certificate/i);
    expect(await outage((await open({ url: secureUrl })).validate('joe', 'pw'))).toMatch(/CERT|certificate/i);
  });
});
