/**
 * The Basic bridge (`auth: bearer-or-basic`, issue "The Basic bridge"): legacy clients send
 * `Authorization: Basic user:password` (RFC 7617), checked through createPasswordLogin —
 * validator chain and lockout — and get the same identity headers as a token would.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { createBasicBridge, parseBasicUser, type BasicClient } from '../../src/resource/basic-bridge.js';
import { InvalidUserCredentialsError } from '../../src/oauth/errors.js';
import type { PasswordLogin } from '../../src/security/login.js';
import { ScopePolicy } from '../../src/oauth/scope-policy.js';
import type { ChainOutcome } from '../../src/validators/chain.js';
import { sleep } from '../support/wait-for.js';

/** RFC 7617: base64 of UTF-8 "user:password", nothing form-encoded. */
const basicUser = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

describe('parseBasicUser (RFC 7617 §2)', () => {
  it('splits at the first colon and decodes UTF-8 without form-decoding', () => {
    expect(parseBasicUser(basicUser('alice', 'p&ss=w+rd%ü'))).toEqual({ username: 'alice', password: 'p&ss=w+rd%ü' });
    expect(parseBasicUser(basicUser('bob', 'a:b:c'))).toEqual({ username: 'bob', password: 'a:b:c' });
    expect(parseBasicUser(`bAsIc   ${Buffer.from('x:y').toString('base64')}`)).toEqual({ username: 'x', password: 'y' });
  });
  it('refuses malformed, empty and control-character values', () => {
    for (const value of ['Basic', 'Basic !!!', 'Basic a', basicUser('', 'pw'), basicUser('joe', ''), `Basic ${Buffer.from('nocolon').toString('base64')}`, basicUser('jo\ne', 'pw'), `Basic ${Buffer.from([0x6a, 0x3a, 0xff]).toString('base64')}`]) {
      expect(parseBasicUser(value), value).toBeNull();
    }
  });
});

describe('createBasicBridge', () => {
  const client: BasicClient = { id: 'legacy', scopes: ['read', 'edit', 'admin'], defaultScopes: ['read', 'admin'] };
  // `admin` is gated (only admins), `edit` too (only editors): groupScopes narrows, never widens.
  const scopePolicy = new ScopePolicy([{ name: 'local', groupScopes: { Admins: ['admin'], editors: ['edit'] } }]);
  const valid: ChainOutcome = { valid: true, validator: 'local', principal: { subject: 'joe', groups: ['editors'], attributes: { mail: 'joe@x' } } };
  const admin: ChainOutcome = { valid: true, validator: 'local', principal: { subject: 'ann', groups: ['admins'], attributes: {} } };
  const setup = (options: { cacheSeconds?: number; maxEntries?: number; answer?: (u: string, p: string) => ChainOutcome } = {}) => {
    let now = 1_000_000;
    const login = vi.fn<PasswordLogin>(async (_c, u, p) => {
      await sleep(5);
      return (options.answer ?? ((user, pw) => (user === 'joe' && pw === 'right' ? valid : { valid: false })))(u, p);
    });
    const bridge = createBasicBridge({
      login,
      clients: [client, { id: 'all', scopes: ['read', 'edit', 'admin'], defaultScopes: [] }, { id: 'narrow', scopes: ['read'], defaultScopes: [] }],
      scopePolicy,
      cacheSeconds: options.cacheSeconds ?? 30,
      ...(options.maxEntries ? { maxEntries: options.maxEntries } : {}),
      now: () => now,
    });
    return { login, bridge, advance: (ms: number) => (now += ms) };
  };

  it("builds the identity from the principal and the client's defaultScopes (or all its scopes)", async () => {
    const { bridge } = setup();
    expect(await bridge.authenticate('legacy', basicUser('joe', 'right'), '10.0.0.1')).toEqual({
      sub: 'joe',
      clientId: 'legacy',
      scope: ['read'],
      groups: ['editors'],
      attributes: { mail: 'joe@x' },
    });
    expect((await bridge.authenticate('all', basicUser('joe', 'right'), '10.0.0.1')).scope).toEqual(['read', 'edit']);
  });

  it('grants a gated scope to members of a group mapped to it, and never beyond the client\'s scopes', async () => {
    const { bridge } = setup({ answer: () => admin });
    expect((await bridge.authenticate('legacy', basicUser('ann', 'x'), 'ip')).scope).toEqual(['read', 'admin']);
    expect((await bridge.authenticate('all', basicUser('ann', 'y'), 'ip')).scope).toEqual(['read', 'admin']);
    expect((await bridge.authenticate('narrow', basicUser('ann', 'z'), 'ip')).scope).toEqual(['read']);
  });

  it('passes client, username, password and client IP to the login (lockout counts per IP)', async () => {
    const { bridge, login } = setup();
    await bridge.authenticate('legacy', basicUser('joe', 'right'), '10.0.0.7');
    expect(login).toHaveBeenCalledWith('legacy', 'joe', 'right', '10.0.0.7', { via: 'basic_bridge' });
  });

  it('remembers a success for cacheSeconds, keyed by the password too', async () => {
    const { bridge, login, advance } = setup({ cacheSeconds: 30 });
    await bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    await bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    expect(login).toHaveBeenCalledTimes(1);
    await expect(bridge.authenticate('legacy', basicUser('joe', 'wrong'), 'ip')).rejects.toBeInstanceOf(InvalidUserCredentialsError);
    expect(login).toHaveBeenCalledTimes(2);
    advance(30_001);
    await bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    expect(login).toHaveBeenCalledTimes(3);
  });

  it('never caches a failure: every wrong attempt reaches the login and its lockout counter', async () => {
    const { bridge, login } = setup();
    for (let i = 0; i < 4; i++) await expect(bridge.authenticate('legacy', basicUser('joe', 'wrong'), 'ip')).rejects.toBeInstanceOf(InvalidUserCredentialsError);
    expect(login).toHaveBeenCalledTimes(4);
  });

  it('shares one login between concurrent requests with the same credentials', async () => {
    const { bridge, login } = setup();
    await Promise.all(Array.from({ length: 5 }, () => bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip')));
    expect(login).toHaveBeenCalledTimes(1);
  });

  it('caches nothing with cacheSeconds 0, and evicts the oldest entry when full', async () => {
    const off = setup({ cacheSeconds: 0 });
    await off.bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    await off.bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    expect(off.login).toHaveBeenCalledTimes(2);

    const small = setup({ maxEntries: 1, answer: () => valid });
    await small.bridge.authenticate('legacy', basicUser('a', 'x'), 'ip');
    await small.bridge.authenticate('legacy', basicUser('b', 'x'), 'ip');
    await small.bridge.authenticate('legacy', basicUser('a', 'x'), 'ip');
    expect(small.login).toHaveBeenCalledTimes(3);
  });

  it('refuses malformed values and unknown clients without calling the login', async () => {
    const { bridge, login } = setup();
    await expect(bridge.authenticate('legacy', 'Basic !!!', 'ip')).rejects.toBeInstanceOf(InvalidUserCredentialsError);
    await expect(bridge.authenticate('ghost', basicUser('joe', 'right'), 'ip')).rejects.toBeInstanceOf(InvalidUserCredentialsError);
    expect(login).not.toHaveBeenCalled();
  });

  it('lets an outage through as an outage (503), never as a refusal', async () => {
    const outage = new Error('directory down');
    const bridge = createBasicBridge({ login: () => Promise.reject(outage), clients: [client], scopePolicy, cacheSeconds: 30 });
    await expect(bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip')).rejects.toBe(outage);
  });
});

describe('the Basic bridge in a real gateway', () => {
  let gw: TestGateway;
  let upstream: Upstream;
  const challenges = ['Basic realm="ropc-gateway", charset="UTF-8"', 'Bearer realm="ropc-gateway"'];

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    gw = await startGateway({
      upstream: upstream.url,
      config: {
        lockout: { maxFailures: 3 },
        decision: { enabled: true, ingress: 'nginx' },
        routes: [
          { path: '/legacy/**', auth: 'bearer-or-basic', basicClient: 'app' },
          { path: '/legacy-admin/**', auth: 'bearer-or-basic', basicClient: 'app', scopes: ['admin'] },
          { path: '/legacy-all/**', auth: 'bearer-or-basic', basicClient: 'pw-only' },
        ],
      },
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${gw.url}${path}`, { headers });
    const text = await res.text();
    let body: { headers?: Record<string, string> } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // not JSON
    }
    return { status: res.status, headers: res.headers, text, body };
  }

  async function metrics(): Promise<string> {
    return (await fetch(`${gw.adminUrl}/metrics`)).text();
  }

  it('lets Basic user credentials through with the identity headers of the basicClient', async () => {
    const res = await get('/legacy/report', { authorization: basicUser('joe', USERS.joe.password), 'x-auth-subject': 'root' });
    expect(res.status).toBe(200);
    expect(res.body.headers).toMatchObject({ 'x-auth-subject': 'joe', 'x-auth-client-id': 'app', 'x-auth-scope': 'read', 'x-auth-groups': 'editors' });
    expect(res.body.headers).not.toHaveProperty('authorization');
    const log = gw.logs().find((l) => l.msg === 'request' && l.route === '/legacy/**');
    expect(log).toMatchObject({ status: 200, sub: 'joe', clientId: 'app' });
  });

  it('reads the password as is (RFC 7617: no form-decoding), and uses all scopes of a client without defaultScopes', async () => {
    const res = await get('/legacy-all/x', { authorization: basicUser('alice', USERS.alice.password) });
    expect(res.status).toBe(200);
    expect(res.body.headers).toMatchObject({ 'x-auth-subject': 'alice', 'x-auth-client-id': 'pw-only', 'x-auth-scope': 'read' });
  });

  it('still accepts a Bearer token on a bearer-or-basic route', async () => {
    const token = await postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}&scope=edit`, { authorization: basicAuth() });
    const res = await get('/legacy/x', { authorization: `Bearer ${token.json.access_token as string}` });
    expect(res.status).toBe(200);
    expect(res.body.headers?.['x-auth-scope']).toBe('edit');
  });

  it('challenges for both schemes when no credentials are sent', async () => {
    const res = await get('/legacy/x');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(challenges.join(', '));
    expect(res.text).toBe('');
  });

  it('answers a wrong password, an unknown user and a malformed value alike: 401 with the Basic challenge, no body', async () => {
    for (const authorization of [basicUser('joe', 'wrong'), basicUser('nobody', 'pw'), 'Basic !!!', basicUser('joe', '')]) {
      const res = await get('/legacy/x', { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(challenges.join(', '));
      expect(res.text).toBe('');
    }
    expect(gw.logs().filter((l) => l.msg === 'request' && l.error === 'invalid_credentials').length).toBeGreaterThanOrEqual(4);
  });

  it('answers 403 when the route needs a scope the basicClient does not give', async () => {
    const res = await get('/legacy-admin/x', { authorization: basicUser('joe', USERS.joe.password) });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('scope="admin"');
  });

  it('refuses Basic on bearer-only routes (no Basic challenge, the upstream is not reached)', async () => {
    const res = await get('/api/x', { authorization: basicUser('joe', USERS.joe.password) });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="ropc-gateway"');
  });

  it('remembers a success for a short time (counted as cached)', async () => {
    await get('/legacy/a', { authorization: basicUser('joe', USERS.joe.password) });
    await get('/legacy/b', { authorization: basicUser('joe', USERS.joe.password) });
    expect(await metrics()).toMatch(/ropc_basic_auth_total\{outcome="cached"\} [1-9]/);
  });

  it('counts failures toward the lockout shared with the token endpoint', async () => {
    // alice has never logged in through basicClient "app", so no cached success can hide the lock.
    for (let i = 0; i < 3; i++) expect((await get('/legacy/x', { authorization: basicUser('alice', `wrong-${i}`) })).status).toBe(401);
    const bridge = await get('/legacy/x', { authorization: basicUser('alice', USERS.alice.password) });
    expect(bridge.status).toBe(401);
    const token = await postForm(gw.tokenUrl, `grant_type=password&username=alice&password=${encodeURIComponent(USERS.alice.password)}`, { authorization: basicAuth() });
    expect(token.status).toBe(400);
    expect(token.json.error).toBe('invalid_grant');
    expect(await metrics()).toMatch(/ropc_lockouts_total\{kind="user"\} [1-9]/);
  });

  it('works on the decision endpoint too', async () => {
    const res = await fetch(`${gw.url}/_ropc/auth`, {
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/legacy/x', authorization: basicUser('joe', USERS.joe.password) },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-auth-subject')).toBe('joe');
    expect(res.headers.get('x-auth-client-id')).toBe('app');
  });
});
