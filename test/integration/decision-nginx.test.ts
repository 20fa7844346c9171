/**
 * The decision endpoint behind a real nginx (Debian nginx-light), `decision.ingress: nginx`:
 * `auth_request` asks the gateway, `auth_request_set` carries X-Auth-* to the upstream — the
 * configuration shown in docs/routing.md — and the headers of the other ingresses, sent by
 * the client, never decide anything. The Traefik and Envoy modes: decision-ingress.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { nginxAvailable, startNginx, type NginxProcess } from '../support/start-nginx.js';

let gw: TestGateway;
let upstream: Upstream;
let nginx: NginxProcess;
let token: string;
let adminToken: string;
/** Requests the upstream has received. */
let upstreamHits = 0;
/** decision.cacheSeconds of `gw`: also the longest a revoked token may pass nginx. */
const CACHE_SECONDS = 2;
const cacheDirs: string[] = [];

/**
 * The http {} block of docs/routing.md's nginx example, as written there, with test ports: the
 * configuration users copy is the one tested.
 */
function nginxConfig(gatewayPort: string, appPort: string): string {
  const doc = readFileSync(new URL('../../docs/routing.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('### nginx (`auth_request`)'));
  const block = /```nginx\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('docs/routing.md: no nginx block under "### nginx (`auth_request`)"');
  const config = block
    .replace('server 127.0.0.1:9031;', `server 127.0.0.1:${gatewayPort};`)
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${appPort};`)
    .replace(/listen 443 ssl;\n\s*# ssl_certificate[^\n]*\n/, 'listen 127.0.0.1:{{PORT}};\n');
  if (!config.includes('{{PORT}}') || config.includes(':9031') || config.includes(':8080'))
    throw new Error('docs/routing.md: the nginx example changed shape; update nginxConfig()');
  // Each nginx its own decision cache.
  const cacheDir = mkdtempSync(join(tmpdir(), 'ropc-nginx-cache-'));
  cacheDirs.push(cacheDir);
  if (!config.includes('proxy_cache_path /run/nginx/ropc-decisions '))
    throw new Error('docs/routing.md: the nginx example has no proxy_cache_path; update nginxConfig()');
  return config.replace('proxy_cache_path /run/nginx/ropc-decisions ', `proxy_cache_path ${cacheDir} `);
}

beforeAll(async () => {
  if (!nginxAvailable()) throw new Error('nginx is not installed: apt-get install -y nginx-light (bash .ci/run does it)');
  upstream = await startEchoUpstream();
  upstream.server.prependListener('request', () => {
    upstreamHits += 1;
  });
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      decision: { enabled: true, ingress: 'nginx', cacheSeconds: CACHE_SECONDS },
      routes: [
        { path: '/public/**', auth: 'none' },
        { path: '/admin/**', methods: ['POST', 'DELETE'], scopes: ['admin'] },
        { path: '/legacy/**', auth: 'bearer-or-basic', basicClient: 'app' },
      ],
    },
  });
  nginx = await startNginx(nginxConfig(new URL(gw.url).port, new URL(upstream.url).port));
  const issue = async (scope: string) =>
    (
      await postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}&scope=${scope}`, {
        authorization: basicAuth(),
      })
    ).json.access_token as string;
  token = await issue('read');
  adminToken = await issue('admin');
});
afterAll(async () => {
  await nginx?.stop();
  await gw?.stop();
  await upstream?.close();
  for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
});

async function viaNginx(path: string, init: RequestInit = {}) {
  const res = await fetch(`${nginx.url}${path}`, init);
  const text = await res.text();
  let body: { method?: string; path?: string; headers?: Record<string, string> } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // nginx's own error page
  }
  return { status: res.status, headers: res.headers, body };
}

describe('nginx auth_request', () => {
  it('lets a valid token through and passes the identity to the upstream', async () => {
    const res = await viaNginx('/api/items?x=1', { headers: { authorization: `Bearer ${token}`, 'x-auth-subject': 'root' } });
    expect(res.status, nginx.errorLog()).toBe(200);
    expect(res.body.path).toBe('/api/items?x=1');
    expect(res.body.headers).toMatchObject({
      'x-auth-subject': 'joe',
      'x-auth-client-id': 'app',
      'x-auth-scope': 'read',
      'x-auth-groups': 'editors',
    });
    expect(res.body.headers).not.toHaveProperty('authorization');
  });

  it('answers 401 with the gateway challenge when the token is missing or bad', async () => {
    const missing = await viaNginx('/api/items');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="ropc-gateway"');
    const bad = await viaNginx('/api/items', { headers: { authorization: `Bearer ${token}x` } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer realm="ropc-gateway", error="invalid_token"/);
  });

  it('decides on the original method: a POST needs the admin scope here', async () => {
    expect((await viaNginx('/admin/users', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: 'x=1' })).status).toBe(
      403,
    );
    const ok = await viaNginx('/admin/users', { method: 'POST', headers: { authorization: `Bearer ${adminToken}` }, body: 'x=1' });
    expect(ok.status).toBe(200);
    expect(ok.body.method).toBe('POST');
    expect((await viaNginx('/admin/users', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('lets public routes through without identity, dropping a forged one', async () => {
    const res = await viaNginx('/public/logo.png', { headers: { 'x-auth-subject': 'root' } });
    expect(res.status).toBe(200);
    expect(res.body.headers).not.toHaveProperty('x-auth-subject');
  });

  it('lets Basic user credentials through on a bearer-or-basic route, and challenges without them', async () => {
    const basic = `Basic ${Buffer.from(`joe:${USERS.joe.password}`).toString('base64')}`;
    const ok = await viaNginx('/legacy/x', { headers: { authorization: basic } });
    expect(ok.status).toBe(200);
    expect(ok.body.headers).toMatchObject({ 'x-auth-subject': 'joe', 'x-auth-client-id': 'app' });
    const none = await viaNginx('/legacy/x');
    expect(none.status).toBe(401);
    // nginx 1.22 passes on only the first challenge: the gateway puts Basic first on these routes.
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="ropc-gateway", charset="UTF-8"');
  });

  it('logs and counts each decision with its route', async () => {
    const lines = gw.logs().filter((l) => l.msg === 'request' && l.kind === 'decision');
    expect(lines.length).toBeGreaterThanOrEqual(7);
    expect(lines.map((l) => l.status)).toEqual(expect.arrayContaining([200, 401, 403]));
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(text).toMatch(/ropc_resource_requests_total\{route="\/admin\/\*\*",status="403"\} [1-9]/);
  });
});

describe('nginx mode: the client cannot name the request that is judged', () => {
  it('an X-Original-URI or X-Original-Method the client sends is replaced by nginx', async () => {
    // An anonymous GET /admin/secret naming a public path, and a DELETE posing as a GET.
    const anonymous = await viaNginx('/admin/secret', { headers: { 'x-original-uri': '/public/x', 'x-original-method': 'GET' } });
    expect(anonymous.status).toBe(401);
    const del = await viaNginx('/admin/x', { method: 'DELETE', headers: { authorization: `Bearer ${token}`, 'x-original-method': 'GET' } });
    expect(del.status).toBe(403);
    expect(del.body.method).toBeUndefined();
  });

  it("the client's X-Original-URI, X-Original-Method and X-Auth-Assertion never reach the upstream", async () => {
    // nginx replaces them in the subrequest only: the gateway judges GET /api/items, and the
    // documented config removes the client's copies from the request to the app.
    const res = await viaNginx('/api/items', {
      headers: {
        authorization: `Bearer ${token}`,
        'x-original-uri': '/admin/delete-everything',
        'x-original-method': 'DELETE',
        'x-envoy-original-path': '/admin/x',
        'x-auth-assertion': 'eyJhbGciOiJFUzI1NiJ9.e30.forged',
      },
    });
    expect(res.status, nginx.errorLog()).toBe(200);
    expect(res.body.path).toBe('/api/items');
    const sent = Object.keys(res.body.headers ?? {});
    expect(sent).not.toContain('x-original-uri');
    expect(sent).not.toContain('x-original-method');
    expect(sent).not.toContain('x-envoy-original-path');
    expect(sent).not.toContain('x-auth-assertion');
  });

  it('the Traefik headers, or a method override that disagrees, never let a request through', async () => {
    const before = upstreamHits;
    // The decision endpoint refuses (400), which nginx turns into a 500: closed either way.
    const traefik = await viaNginx('/admin/secret', { headers: { 'x-forwarded-uri': '/public/x', 'x-forwarded-method': 'GET' } });
    expect(traefik.status).toBe(500);
    const override = await viaNginx('/admin/x', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}`, 'x-http-method-override': 'GET' },
    });
    expect(override.status).toBe(500);
    const rewrite = await viaNginx('/api/items', { headers: { authorization: `Bearer ${token}`, 'x-original-url': '/admin/x' } });
    expect(rewrite.status).toBe(500);
    expect(upstreamHits).toBe(before);
    expect(gw.logs().filter((l) => l.kind === 'decision' && l.status === 400).length).toBeGreaterThanOrEqual(3);
  });

  it('a copy that agrees with the request nginx saw is harmless', async () => {
    const res = await viaNginx('/api/items?x=1', {
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-uri': '/api/items?x=1', 'x-http-method-override': 'get' },
    });
    expect(res.status).toBe(200);
  });
});

describe('the decision endpoint in nginx mode, directly', () => {
  const decision = (path: string, init: RequestInit = {}) => fetch(`${gw.url}${path}`, init);

  it('reads only X-Original-Method and X-Original-URI: the Traefik pair alone is refused', async () => {
    const traefik = await decision('/_ropc/auth', {
      headers: { 'x-forwarded-method': 'DELETE', 'x-forwarded-uri': '/admin/x', authorization: `Bearer ${adminToken}` },
    });
    expect(traefik.status).toBe(400);
    expect(((await traefik.json()) as { error: string }).error).toBe('invalid_request');
    const both = await decision('/_ropc/auth', {
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/admin/secret', 'x-forwarded-uri': '/public/x' },
    });
    expect(both.status).toBe(400);
    const ok = await decision('/_ropc/auth', {
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/public/x', 'x-forwarded-uri': '/admin/secret' },
    });
    expect(ok.status).toBe(400);
  });

  it('refuses the Envoy path-prefix form', async () => {
    const res = await decision('/_ropc/auth/public/x');
    expect(res.status).toBe(400);
    const post = await decision('/_ropc/auth/admin/x', { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
    expect(post.status).toBe(400);
  });

  it('answers without x-envoy-auth-headers-to-remove (nginx ignores it)', async () => {
    const res = await decision('/_ropc/auth', {
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/api/x', authorization: `Bearer ${token}`, 'x-auth-forged': '1' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-auth-subject')).toBe('joe');
    // The token lives for hours: decision.cacheSeconds bounds how long nginx may keep this.
    expect(res.headers.get('x-accel-expires')).toBe(String(CACHE_SECONDS));
    expect(res.headers.get('cache-control')).toBe(`private, max-age=${CACHE_SECONDS}`);
    expect(res.headers.get('x-envoy-auth-headers-to-remove')).toBeNull();
  });

  it('never lets a denial, a Basic-bridge login or a public route be cached', async () => {
    const denied = await decision('/_ropc/auth', {
      headers: { 'x-original-method': 'DELETE', 'x-original-uri': '/admin/x', authorization: `Bearer ${token}` },
    });
    expect(denied.status).toBe(403);
    const invalid = await decision('/_ropc/auth', {
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/api/x', authorization: `Bearer ${token}x` },
    });
    expect(invalid.status).toBe(401);
    const basic = await decision('/_ropc/auth', {
      headers: {
        'x-original-method': 'GET',
        'x-original-uri': '/legacy/x',
        authorization: `Basic ${Buffer.from(`joe:${USERS.joe.password}`).toString('base64')}`,
      },
    });
    expect(basic.status).toBe(200);
    const open = await decision('/_ropc/auth', { headers: { 'x-original-method': 'GET', 'x-original-uri': '/public/x' } });
    expect(open.status).toBe(200);
    for (const res of [denied, invalid, basic, open]) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-accel-expires')).toBeNull();
    }
  });

  it('refuses a decision request without the original method and URI, or with another method', async () => {
    const missing = await decision('/_ropc/auth', { headers: { 'x-original-uri': '/x' } });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toBe('invalid_request');
    const post = await decision('/_ropc/auth', { method: 'POST', headers: { 'x-original-method': 'GET', 'x-original-uri': '/x' } });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('applies the same path and token rules to the original URI', async () => {
    const dots = await decision('/_ropc/auth', { headers: { 'x-original-method': 'GET', 'x-original-uri': '/public/../admin/x' } });
    expect(dots.status).toBe(400);
    const query = await decision('/_ropc/auth', { headers: { 'x-original-method': 'GET', 'x-original-uri': `/x?access_token=${token}` } });
    expect(query.status).toBe(400);
    const head = await decision('/_ropc/auth', {
      method: 'HEAD',
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/x', authorization: `Bearer ${token}` },
    });
    expect(head.status).toBe(200);
  });

  it('is off by default: the path is then an ordinary resource path', async () => {
    const plain = await startGateway({ upstream: upstream.url });
    try {
      // The default rule (a valid token is required), not the decision endpoint's 400 for missing headers.
      const res = await fetch(`${plain.url}/_ropc/auth`, { headers: { 'x-original-method': 'GET', 'x-original-uri': '/x' } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="ropc-gateway"');
    } finally {
      await plain.stop();
    }
  });
});

/** Decision lines the gateway has logged (a request nginx answers from its cache adds none). */
const decisions = (g: TestGateway): number => g.logs().filter((l) => l.msg === 'request' && l.kind === 'decision').length;
/** Waits until the wall clock has passed `unixSeconds`. */
const until = async (unixSeconds: number): Promise<void> => {
  while (Date.now() / 1000 <= unixSeconds) await new Promise((resolve) => setTimeout(resolve, 100));
};

describe('nginx caching decisions (the proxy_cache lines of docs/routing.md)', () => {
  it('answers a repeated request from its cache, and a revoked token stops within decision.cacheSeconds', async () => {
    const own = (
      await postForm(`${gw.url}/as/token.oauth2`, `grant_type=password&username=joe&password=${USERS.joe.password}&scope=read`, {
        authorization: basicAuth(),
      })
    ).json.access_token as string;
    const headers = { authorization: `Bearer ${own}` };
    const first = await viaNginx('/api/cached', { headers });
    const decidedAt = Date.now() / 1000;
    expect(first.status, nginx.errorLog()).toBe(200);
    const before = decisions(gw);
    const again = await viaNginx('/api/cached', { headers });
    expect(again.status).toBe(200);
    // From the cache, with the identity the decision gave.
    expect(again.body.headers).toMatchObject({ 'x-auth-subject': 'joe', 'x-auth-scope': 'read' });
    expect(decisions(gw)).toBe(before);
    // Another URI with the same token is decided on its own.
    expect((await viaNginx('/api/other', { headers })).status).toBe(200);
    expect(decisions(gw)).toBe(before + 1);

    expect((await postForm(`${gw.url}/as/revoke_token.oauth2`, `token=${own}`, { authorization: basicAuth() })).status).toBe(200);
    // nginx may keep the answer for decision.cacheSeconds (whole seconds, so one more at most).
    await until(decidedAt + CACHE_SECONDS + 1);
    const revoked = await viaNginx('/api/cached', { headers });
    expect(revoked.status).toBe(401);
    expect(decisions(gw)).toBeGreaterThan(before + 1);
  });

  it('a cached decision expires with the token, however long decision.cacheSeconds is', async () => {
    const shortLived = await startGateway({
      upstream: upstream.url,
      config: { oauth: { accessTokenTtl: 2 }, decision: { enabled: true, ingress: 'nginx', cacheSeconds: 3600 } },
    });
    const front = await startNginx(nginxConfig(new URL(shortLived.url).port, new URL(upstream.url).port));
    try {
      const issued = await postForm(
        `${shortLived.url}/as/token.oauth2`,
        `grant_type=password&username=joe&password=${USERS.joe.password}`,
        { authorization: basicAuth() },
      );
      const exp = Date.now() / 1000 + (issued.json.expires_in as number);
      const headers = { authorization: `Bearer ${issued.json.access_token as string}` };
      const call = async () => (await fetch(`${front.url}/api/items`, { headers })).status;
      expect(await call(), front.errorLog()).toBe(200);
      const before = decisions(shortLived);
      expect(await call()).toBe(200);
      expect(decisions(shortLived)).toBe(before);
      await until(exp + 1);
      expect(await call()).toBe(401);
      expect(decisions(shortLived)).toBe(before + 1);
    } finally {
      await front.stop();
      await shortLived.stop();
    }
  });
});
