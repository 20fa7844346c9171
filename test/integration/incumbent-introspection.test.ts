/**
 * Migration from an incumbent authorization server (docs/migrating-from-pingfederate.md):
 * the gateway under test accepts tokens of a SECOND ropc-gateway playing the incumbent, whose
 * `/as/introspect.oauth2` is RFC 7662 — as PingFederate's is. Its tokens have this gateway's
 * own format, so the gateways that accept them run with `sameFormat: true`; `gwStrict` shows
 * the default, where a token of that format never reaches the incumbent. Real processes' worth of parts:
 * two gateways, a real redis-server for the incumbent (so it can be killed and restarted with
 * its tokens), real HTTP clients, a real TCP server that accepts and never answers.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { basicAuth, CLIENT, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { freePort } from '../support/ports.js';
import { hashSecret } from '../../src/security/password-hash.js';
import { newFamilyId, newToken } from '../../src/tokens/token-value.js';

/** The client the gateway authenticates with at the incumbent, and its secret (must never be logged). */
const RS = { id: 'api', secret: 'incumbent-Rs-s3cret-7f1c' } as const;
const INCUMBENT_ISSUER = 'https://pf.example.com';
const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable, retry later' };

let upstream: Upstream;
let redis: RedisProcess;
let incumbent: TestGateway;
let incumbentPort: number;
let incumbentConfig: Record<string, unknown>;
/** Checks the incumbent's tokens, with a short cache (revocation test) and a breaker that reopens quickly. */
let gw: TestGateway;
/** Same incumbent, answers cached for an hour. */
let gwLongCache: TestGateway;
/** Same incumbent without sameFormat: tokens in this gateway's format never go there. */
let gwStrict: TestGateway;
/** Points at a black hole, with a timeout longer than any test. */
let gwHole: TestGateway;
/** Points at the black hole, with a short timeout and a breaker that stays open. */
let gwHoleShort: TestGateway;
let hole: { url: string; server: Server; sockets: Set<Socket> };

const routes = [{ path: '/edit/**', scopes: ['edit'] }, { path: '/admin/**', groups: ['admins'] }, { path: '/**' }];
const identity = {
  'X-Auth-Subject': 'sub',
  'X-Auth-Client-Id': 'client_id',
  'X-Auth-Scope': 'scope',
  'X-Auth-Groups': 'groups',
  'X-Auth-Issuer': 'attributes.issuer',
};

function introspectionConfig(url: string, dir: string, extra: Record<string, unknown>): Record<string, unknown> {
  const secretFile = join(dir, `rs-secret-${Math.random().toString(36).slice(2)}`);
  writeFileSync(secretFile, `${RS.secret}\n`);
  return {
    enabled: true,
    url,
    clientId: RS.id,
    clientSecretFile: secretFile,
    sameFormat: true,
    claims: { attributes: { issuer: 'iss' } },
    ...extra,
  };
}

async function startBlackHole(): Promise<typeof hole> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/as/introspect.oauth2`, server, sockets };
}

async function startIncumbent(): Promise<TestGateway> {
  return startGateway({ upstream: upstream.url, config: incumbentConfig });
}

beforeAll(async () => {
  upstream = await startEchoUpstream();
  redis = await startRedis();
  incumbentPort = await freePort();
  const clientHash = await hashSecret(CLIENT.secret);
  incumbentConfig = {
    server: { port: incumbentPort, shutdownTimeoutSeconds: 1 },
    oauth: { issuer: INCUMBENT_ISSUER },
    store: { type: 'redis', redis: { url: redis.url, keyPrefix: 'incumbent:', commandTimeoutMs: 500 } },
    clients: [
      { id: CLIENT.id, secretHash: clientHash, scopes: ['read', 'edit', 'admin'], defaultScopes: ['read'] },
      // A resource server at the incumbent: no grants, introspects every client's access tokens.
      { id: RS.id, secretHash: await hashSecret(RS.secret), grantTypes: [], introspectAnyToken: true },
    ],
  };
  incumbent = await startIncumbent();
  hole = await startBlackHole();
  const incumbentUrl = `http://127.0.0.1:${incumbentPort}/as/introspect.oauth2`;
  const common = { routes, headers: { identity }, server: { shutdownTimeoutSeconds: 1 }, decision: { enabled: true, ingress: 'nginx' } };
  // The client secret files go in the incumbent's temp dir (read at each gateway's start).
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      ...common,
      incumbent: {
        introspection: introspectionConfig(incumbentUrl, incumbent.dir, {
          cacheSeconds: 1,
          negativeCacheSeconds: 0,
          timeoutMs: 2000,
          breaker: { failureThreshold: 2, openSeconds: 1 },
        }),
      },
    },
  });
  gwStrict = await startGateway({
    upstream: upstream.url,
    config: {
      ...common,
      incumbent: { introspection: introspectionConfig(incumbentUrl, incumbent.dir, { sameFormat: false, negativeCacheSeconds: 0 }) },
    },
  });
  gwLongCache = await startGateway({
    upstream: upstream.url,
    config: { ...common, incumbent: { introspection: introspectionConfig(incumbentUrl, incumbent.dir, { cacheSeconds: 3600 }) } },
  });
  gwHole = await startGateway({
    upstream: upstream.url,
    config: {
      ...common,
      incumbent: { introspection: introspectionConfig(hole.url, incumbent.dir, { timeoutMs: 600_000, maxConnections: 2 }) },
    },
  });
  gwHoleShort = await startGateway({
    upstream: upstream.url,
    config: {
      ...common,
      incumbent: {
        introspection: introspectionConfig(hole.url, incumbent.dir, {
          timeoutMs: 200,
          breaker: { failureThreshold: 2, openSeconds: 3600 },
        }),
      },
    },
  });
});

afterAll(async () => {
  for (const socket of hole?.sockets ?? []) socket.destroy();
  hole?.server.close();
  for (const g of [gw, gwLongCache, gwStrict, gwHole, gwHoleShort]) await g?.stop();
  await incumbent?.stop();
  await upstream?.close();
  await redis?.stop();
});

async function login(at: TestGateway, user: keyof typeof USERS, scope: string): Promise<{ access_token: string; refresh_token: string }> {
  const u = USERS[user];
  const body = `grant_type=password&username=${encodeURIComponent(u.username)}&password=${encodeURIComponent(u.password)}&scope=${encodeURIComponent(scope)}`;
  const res = await postForm(at.tokenUrl, body, { authorization: basicAuth() });
  expect(res.status).toBe(200);
  return res.json as unknown as { access_token: string; refresh_token: string };
}

const call = (at: TestGateway, path: string, token: string, init: RequestInit = {}) =>
  fetch(`${at.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}` } });

async function echoed(res: Response): Promise<Record<string, string>> {
  expect(res.status).toBe(200);
  return ((await res.json()) as { headers: Record<string, string> }).headers;
}

/** One sample of a metric on the admin port, 0 when absent. */
async function metric(at: TestGateway, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${at.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Introspection requests the incumbent has answered, by its own request metric. */
const introspectionsAtIncumbent = () => metric(incumbent, 'ropc_http_requests_total', 'kind="introspection",status="200"');

describe('a token of the incumbent', () => {
  it('is accepted with the identity headers its introspection answer maps to', async () => {
    const { access_token } = await login(incumbent, 'joe', 'read edit');
    const headers = await echoed(await call(gw, '/edit/doc', access_token));
    expect(headers['x-auth-subject']).toBe('joe');
    expect(headers['x-auth-client-id']).toBe(CLIENT.id);
    expect(headers['x-auth-scope']).toBe('read edit');
    expect(headers['x-auth-groups']).toBe('editors');
    expect(headers['x-auth-issuer']).toBe(INCUMBENT_ISSUER); // claims.attributes: {issuer: iss}
    expect(headers.authorization).toBeUndefined();
  });

  it("meets the route's scope and group checks like one of ours (403 insufficient_scope)", async () => {
    const { access_token } = await login(incumbent, 'joe', 'read');
    const edit = await call(gw, '/edit/doc', access_token);
    expect(edit.status).toBe(403);
    expect(edit.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(edit.headers.get('www-authenticate')).toContain('scope="edit"');
    expect((await call(gw, '/admin/x', access_token)).status).toBe(403); // joe is not in admins
    const alice = await login(incumbent, 'alice', 'read');
    expect((await echoed(await call(gw, '/admin/x', alice.access_token)))['x-auth-groups']).toBe('admins,editors');
  });

  it('gets the same answer from the decision endpoint', async () => {
    const { access_token } = await login(incumbent, 'joe', 'read edit');
    const res = await fetch(`${gw.url}/_ropc/auth`, {
      headers: { authorization: `Bearer ${access_token}`, 'x-original-method': 'GET', 'x-original-uri': '/edit/doc' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-auth-subject')).toBe('joe');
    expect(res.headers.get('x-auth-issuer')).toBe(INCUMBENT_ISSUER);
  });

  it('is counted as incumbent, and ours as ours', async () => {
    const before = {
      ours: await metric(gw, 'ropc_resource_token_source_total', 'source="ours"'),
      incumbent: await metric(gw, 'ropc_resource_token_source_total', 'source="incumbent"'),
    };
    const theirs = await login(incumbent, 'joe', 'read');
    const ours = await login(gw, 'joe', 'read');
    await echoed(await call(gw, '/x', theirs.access_token));
    await echoed(await call(gw, '/x', ours.access_token));
    await echoed(await call(gw, '/x', ours.access_token));
    expect(await metric(gw, 'ropc_resource_token_source_total', 'source="incumbent"')).toBe(before.incumbent + 1);
    expect(await metric(gw, 'ropc_resource_token_source_total', 'source="ours"')).toBe(before.ours + 2);
  });
});

describe('tokens that are refused', () => {
  it('an unknown token: 401 invalid_token, after asking the incumbent', async () => {
    const asked = await introspectionsAtIncumbent();
    const res = await call(gw, '/x', 'unknown-to-everyone.0123456789');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(await introspectionsAtIncumbent()).toBe(asked + 1);
    expect(await metric(gw, 'ropc_incumbent_introspections_total', 'outcome="inactive"')).toBeGreaterThan(0);
  });

  // The incumbent answers inactive to a client other than the token's own (a gateway acting as
  // its own client would get token_type N_A, refused too: test/unit/incumbent-source.test.ts).
  it("the incumbent's refresh token presented as a bearer token", async () => {
    const { refresh_token } = await login(incumbent, 'joe', 'read');
    const res = await call(gw, '/x', refresh_token);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('one of ours that is revoked or unknown: 401, and never sent to the incumbent (sameFormat off, the default)', async () => {
    const ours = await login(gwStrict, 'joe', 'read');
    await echoed(await call(gwStrict, '/x', ours.access_token));
    const revoked = await postForm(gwStrict.revocationUrl, `token=${ours.refresh_token}&token_type_hint=refresh_token`, {
      authorization: basicAuth(),
    });
    expect(revoked.status).toBe(200);
    const theirs = await login(incumbent, 'joe', 'read'); // the incumbent's, but in our format
    const asked = await introspectionsAtIncumbent();
    expect((await call(gwStrict, '/x', ours.access_token)).status).toBe(401);
    expect((await call(gwStrict, '/x', newToken(newFamilyId()))).status).toBe(401); // our format, never issued
    expect((await call(gwStrict, '/x', theirs.access_token)).status).toBe(401);
    expect(await introspectionsAtIncumbent()).toBe(asked);
    // A token in any other format is asked of the incumbent.
    expect((await call(gwStrict, '/x', 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln')).status).toBe(401);
    expect(await introspectionsAtIncumbent()).toBe(asked + 1);
  });

  it('with sameFormat, a live token of ours is still answered by our store alone', async () => {
    const ours = await login(gw, 'joe', 'read');
    const asked = await introspectionsAtIncumbent();
    for (let i = 0; i < 3; i++) await echoed(await call(gw, '/x', ours.access_token));
    expect(await introspectionsAtIncumbent()).toBe(asked);
  });
});

describe('load on the incumbent', () => {
  it('one introspection per token for concurrent and repeated requests, active or not', async () => {
    const { access_token } = await login(incumbent, 'joe', 'read');
    const asked = await introspectionsAtIncumbent();
    const answers = await Promise.all(Array.from({ length: 10 }, () => call(gwLongCache, '/x', access_token)));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    const unknown = `pf-unknown-${Math.random().toString(36).slice(2)}`;
    for (let i = 0; i < 3; i++) expect((await call(gwLongCache, '/x', unknown)).status).toBe(401); // negativeCacheSeconds: 10
    expect(await introspectionsAtIncumbent()).toBe(asked + 2);
  });
});

describe('an incumbent that answers, but not as RFC 7662 says', () => {
  it('refused client credentials (401 from the incumbent) and a body that is no introspection answer are 503, never a pass', async () => {
    const wrongSecret = await startGateway({
      upstream: upstream.url,
      config: {
        incumbent: {
          introspection: {
            ...introspectionConfig(`http://127.0.0.1:${incumbentPort}/as/introspect.oauth2`, incumbent.dir, {}),
            clientSecretFile: '',
            clientSecret: 'not-the-secret',
          },
        },
      },
    });
    // The echo upstream answers 200 with JSON that has no boolean "active".
    const notIntrospection = await startGateway({
      upstream: upstream.url,
      config: { incumbent: { introspection: introspectionConfig(`${upstream.url}/as/introspect.oauth2`, incumbent.dir, {}) } },
    });
    try {
      const { access_token } = await login(incumbent, 'joe', 'read');
      for (const g of [wrongSecret, notIntrospection]) {
        const res = await call(g, '/x', access_token);
        expect(res.status).toBe(503);
        expect(await res.json()).toEqual(UNAVAILABLE);
        expect(await metric(g, 'ropc_incumbent_introspections_total', 'outcome="error"')).toBe(1);
      }
      const line = wrongSecret.logs().find((l) => l['event'] === 'incumbent_unavailable');
      expect((line?.['err'] as { message?: string } | undefined)?.message).toBe('the introspection endpoint answered HTTP 401');
      expect(wrongSecret.logText()).not.toContain('not-the-secret');
      expect(notIntrospection.logText()).not.toContain(RS.secret);
    } finally {
      await wrongSecret.stop();
      await notIntrospection.stop();
    }
  });
});

describe('revocation at the incumbent', () => {
  it('takes effect once the cached answer lapses (cacheSeconds), and not before on a long cache', async () => {
    const { access_token, refresh_token } = await login(incumbent, 'joe', 'read');
    await echoed(await call(gw, '/x', access_token));
    await echoed(await call(gwLongCache, '/x', access_token));
    const revoked = await postForm(incumbent.revocationUrl, `token=${refresh_token}&token_type_hint=refresh_token`, {
      authorization: basicAuth(),
    });
    expect(revoked.status).toBe(200);
    // cacheSeconds: 1 — refused once the answer lapses (within the bound, whatever the machine's speed).
    await expect.poll(async () => (await call(gw, '/x', access_token)).status, { timeout: 15_000, interval: 200 }).toBe(401);
    // cacheSeconds: 3600 — the answer given before the revocation still holds: the documented bound.
    await echoed(await call(gwLongCache, '/x', access_token));
    expect(await metric(gwLongCache, 'ropc_incumbent_introspections_total', 'outcome="cached"')).toBeGreaterThan(0);
  });
});

describe('an incumbent that never answers (a black hole)', () => {
  it("does not hold up our tokens while the incumbent's wait", async () => {
    const controller = new AbortController();
    let settled = 0;
    const theirs = Array.from({ length: 5 }, (_, i) =>
      call(gwHole, '/x', `pf-token-${i}-${Math.random().toString(36).slice(2)}`, { signal: controller.signal }).then(
        () => settled++,
        () => undefined,
      ),
    );
    await expect.poll(() => hole.sockets.size, { timeout: 10_000 }).toBeGreaterThan(0);
    const ours = await login(gwHole, 'joe', 'read');
    for (let i = 0; i < 3; i++) expect((await echoed(await call(gwHole, '/x', ours.access_token)))['x-auth-subject']).toBe('joe');
    expect(settled).toBe(0); // still waiting on the incumbent (timeoutMs: 600000) while ours passed
    controller.abort();
    await Promise.all(theirs);
  });

  it("answers 503 for the incumbent's tokens on its timeout, then the breaker answers at once", async () => {
    const ours = await login(gwHoleShort, 'joe', 'read');
    for (let i = 0; i < 2; i++) {
      const res = await call(gwHoleShort, '/x', `pf-timeout-${i}`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.json()).toEqual(UNAVAILABLE);
    }
    expect(await metric(gwHoleShort, 'ropc_incumbent_introspections_total', 'outcome="timeout"')).toBe(2);
    expect(await metric(gwHoleShort, 'ropc_incumbent_breaker_open')).toBe(1);
    const open = await call(gwHoleShort, '/x', 'pf-while-open');
    expect(open.status).toBe(503);
    expect(Number(open.headers.get('retry-after'))).toBeGreaterThan(5); // the breaker's remaining open time
    expect(await open.json()).toEqual(UNAVAILABLE);
    expect(await metric(gwHoleShort, 'ropc_incumbent_introspections_total', 'outcome="short_circuited"')).toBe(1);
    expect(await metric(gwHoleShort, 'ropc_incumbent_introspections_total', 'outcome="timeout"')).toBe(2);
    // The decision endpoint fails closed the same way.
    const decision = await fetch(`${gwHoleShort.url}/_ropc/auth`, {
      headers: { authorization: 'Bearer pf-decision', 'x-original-method': 'GET', 'x-original-uri': '/x' },
    });
    expect(decision.status).toBe(503);
    expect(await decision.json()).toEqual(UNAVAILABLE);
    expect((await echoed(await call(gwHoleShort, '/x', ours.access_token)))['x-auth-subject']).toBe('joe');
    expect(gwHoleShort.logs().some((l) => l['event'] === 'incumbent_breaker_open')).toBe(true);
  });

  it('refuses a WebSocket upgrade with an incumbent token 503 before anything is upgraded', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${gwHoleShort.url.replace('http', 'ws')}/socket`, { headers: { authorization: 'Bearer pf-websocket' } });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => reject(new Error('upgraded')));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(503);
  });
});

describe('the incumbent killed and restarted', () => {
  it('503 for its tokens while ours pass; the breaker opens, and closes once it answers again', async () => {
    const theirs = await login(incumbent, 'joe', 'read');
    const ours = await login(gw, 'joe', 'read');
    await echoed(await call(gw, '/x', theirs.access_token));
    await incumbent.stop();
    // The cached answer lapses after cacheSeconds: 1; then every ask fails (connection refused).
    await expect.poll(async () => (await call(gw, '/x', theirs.access_token)).status, { timeout: 15_000, interval: 200 }).toBe(503);
    const second = await call(gw, '/x', theirs.access_token); // failureThreshold: 2
    expect(second.status).toBe(503);
    expect(await second.json()).toEqual(UNAVAILABLE);
    expect(await metric(gw, 'ropc_incumbent_breaker_open')).toBe(1);
    const refused = await call(gw, '/x', theirs.access_token);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual(UNAVAILABLE);
    expect((await echoed(await call(gw, '/x', ours.access_token)))['x-auth-subject']).toBe('joe');

    incumbent = await startIncumbent(); // same port, same Redis: the token lives on
    await expect.poll(async () => (await call(gw, '/x', theirs.access_token)).status, { timeout: 15_000, interval: 200 }).toBe(200);
    expect(await metric(gw, 'ropc_incumbent_breaker_open')).toBe(0);
    expect(gw.logs().some((l) => l['event'] === 'incumbent_breaker_closed')).toBe(true);
  });
});

describe('secrets', () => {
  it("the incumbent's client secret and the tokens never appear in the gateways' logs", async () => {
    const basic = basicAuth(RS.id, RS.secret).slice('Basic '.length);
    for (const g of [gw, gwLongCache, gwStrict, gwHole, gwHoleShort]) {
      const text = g.logText();
      expect(text.length).toBeGreaterThan(0);
      expect(text).not.toContain(RS.secret);
      expect(text).not.toContain(basic);
      expect(text).not.toContain('pf-timeout-');
      expect(text).not.toContain('pf-token-');
    }
  });
});
