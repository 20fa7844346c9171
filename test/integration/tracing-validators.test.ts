/**
 * Tracing of the validators (docs/operations.md, "Tracing"): a real gateway whose client chain
 * is [directory (LDAP, a real slapd), legacy (HTTP, a real service)], exporting to the OTLP/HTTP
 * receiver of the test harness. Each validator call is a `validator.validate` span under the
 * chain; the directory's search and bind are `ldap.search` / `ldap.bind` spans under it; no
 * exported byte holds a user's password, the service account's password or the HTTP
 * validator's API key.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PEOPLE, SERVICE, USERS } from '../fixtures/ldap/directory.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { basicAuth, postForm, startGateway, type TestGateway } from '../support/start-gateway.js';
import { startSlapd, type SlapdProcess } from '../support/start-slapd.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'trace-validators-secret';
const API_KEY = 'api-key-must-not-be-exported-77';
const LEGACY_USER = { username: 'legacy-only', password: 'legacy-pw-31' };

let slapd: SlapdProcess;
let upstream: Upstream;
let legacy: http.Server;
let receiver: OtlpReceiver;
let gw: TestGateway;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ropc-trace-validators-'));
  const secretFile = join(dir, 'app-secret');
  const headersFile = join(dir, 'legacy-headers.yaml');
  writeFileSync(secretFile, `${SECRET}\n`);
  writeFileSync(headersFile, `X-Api-Key: ${API_KEY}\n`);
  // The legacy user service: one user, the API key required.
  legacy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { username, password } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { username: string; password: string };
      const ok = req.headers['x-api-key'] === API_KEY && username === LEGACY_USER.username && password === LEGACY_USER.password;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(ok ? JSON.stringify({ subject: username }) : '{}');
    });
  });
  await new Promise<void>((resolve) => legacy.listen(0, '127.0.0.1', resolve));
  [slapd, upstream, receiver] = await Promise.all([startSlapd(), startEchoUpstream(), startOtlpReceiver()]);
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      tracing: { enabled: true, endpoint: receiver.url },
      validators: [
        {
          name: 'directory',
          type: 'ldap',
          urls: [slapd.url],
          bindDn: SERVICE.dn,
          bindPassword: SERVICE.password,
          userSearchBase: PEOPLE,
          groups: { memberOfAttribute: 'memberOf' },
          timeoutMs: 2000,
          poolSize: 1,
        },
        {
          name: 'legacy',
          type: 'http',
          url: `http://127.0.0.1:${(legacy.address() as AddressInfo).port}/verify`,
          headersFile,
          timeoutMs: 2000,
        },
      ],
      clients: [{ id: 'app', secretFile, scopes: ['read'], defaultScopes: ['read'], validators: ['directory', 'legacy'] }],
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([upstream?.close(), receiver?.close(), slapd?.stop(), new Promise((resolve) => legacy?.close(resolve))]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const login = (requestId: string, username: string, password: string) =>
  postForm(gw.tokenUrl, `grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(password)}`, {
    authorization: basicAuth('app', SECRET),
    'x-request-id': requestId,
  });

async function traceOf(requestId: string): Promise<ReceivedSpan[]> {
  let root: ReceivedSpan | undefined;
  await waitFor(
    async () => {
      await gw.gateway.tracing?.flush();
      root = receiver.spans().find((s) => s.kind === 2 && s.attributes['ropc.request_id'] === requestId);
      return root !== undefined;
    },
    10_000,
    `the server span of ${requestId}`,
  );
  return receiver.spans().filter((s) => s.traceId === root!.traceId);
}

const children = (spans: readonly ReceivedSpan[], parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);

describe('validator spans', () => {
  it("shows the directory's search and bind under its validator span", async () => {
    const res = await login('ldap-login', USERS.joe.uid, USERS.joe.password);
    expect(res.status).toBe(200);
    const spans = await traceOf('ldap-login');
    const chain = spans.find((s) => s.name === 'validator_chain')!;
    const validators = children(spans, chain);
    expect(
      validators.map((s) => [
        s.name,
        s.attributes['ropc.validator.name'],
        s.attributes['ropc.validator.type'],
        s.attributes['ropc.validator.outcome'],
      ]),
    ).toEqual([['validator.validate', 'directory', 'ldap', 'valid']]);
    const calls = children(spans, validators[0]!);
    expect(calls.map((s) => [s.name, s.attributes['ropc.ldap.step']])).toEqual([
      ['ldap.search', 'searching the user'],
      ['ldap.bind', 'binding the user'],
    ]);
    for (const call of calls) expect(call.kind).toBe(3);
  });

  it('shows an unknown directory user going on to the HTTP validator, each call its own span', async () => {
    const res = await login('http-login', LEGACY_USER.username, LEGACY_USER.password);
    expect(res.status).toBe(200);
    const spans = await traceOf('http-login');
    const chain = spans.find((s) => s.name === 'validator_chain')!;
    expect(chain.attributes).toMatchObject({ 'ropc.validator.outcome': 'valid', 'ropc.validator.name': 'legacy' });
    const validators = children(spans, chain).sort((a, b) =>
      String(a.attributes['ropc.validator.name']).localeCompare(String(b.attributes['ropc.validator.name'])),
    );
    expect(
      validators.map((s) => [
        s.attributes['ropc.validator.name'],
        s.attributes['ropc.validator.type'],
        s.attributes['ropc.validator.outcome'],
        s.attributes['ropc.validator.reason'] ?? null,
      ]),
    ).toEqual([
      ['directory', 'ldap', 'invalid', 'unknown-user'],
      ['legacy', 'http', 'valid', null],
    ]);
    // The unknown user still costs one search and one bind (against a DN that does not exist).
    expect(children(spans, validators[0]!).map((s) => s.name)).toEqual(['ldap.search', 'ldap.bind']);
  });

  it('exports no password, no service account password and no API key', async () => {
    const wrong = await login('ldap-wrong', USERS.joe.uid, 'wrong-directory-pw-9');
    expect(wrong.status).toBe(400);
    await traceOf('ldap-wrong');
    const bodies = receiver.bodies().join('\n');
    for (const secret of [
      USERS.joe.password,
      LEGACY_USER.password,
      'wrong-directory-pw-9',
      SERVICE.password,
      API_KEY,
      SECRET,
      LEGACY_USER.username,
      USERS.joe.uid,
    ]) {
      expect(bodies.includes(secret), secret).toBe(false);
    }
  });
});
