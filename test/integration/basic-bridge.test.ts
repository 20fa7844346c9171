/**
 * The Basic bridge (`auth: bearer-or-basic`, issue "The Basic bridge"): legacy clients send
 * `Authorization: Basic user:password` (RFC 7617), checked through createPasswordLogin —
 * validator chain and lockout — and get the same identity headers as a token would. In a real
 * gateway here; the bridge alone in test/unit/basic-bridge.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';

/** RFC 7617: base64 of UTF-8 "user:password", nothing form-encoded. */
const basicUser = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

describe('the Basic bridge in a real gateway', () => {
  const env = useGateway({
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
  const challenges = ['Basic realm="ropc-gateway", charset="UTF-8"', 'Bearer realm="ropc-gateway"'];

  async function get(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${env.gw.url}${path}`, { headers });
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
    return (await fetch(`${env.gw.adminUrl}/metrics`)).text();
  }

  it('lets Basic user credentials through with the identity headers of the basicClient', async () => {
    const res = await get('/legacy/report', { authorization: basicUser('joe', USERS.joe.password), 'x-auth-subject': 'root' });
    expect(res.status).toBe(200);
    expect(res.body.headers).toMatchObject({
      'x-auth-subject': 'joe',
      'x-auth-client-id': 'app',
      'x-auth-scope': 'read',
      'x-auth-groups': 'editors',
    });
    expect(res.body.headers).not.toHaveProperty('authorization');
    const log = env.gw.logs().find((l) => l.msg === 'request' && l.route === '/legacy/**');
    expect(log).toMatchObject({ status: 200, sub: 'joe', clientId: 'app' });
  });

  it('reads the password as is (RFC 7617: no form-decoding), and uses all scopes of a client without defaultScopes', async () => {
    const res = await get('/legacy-all/x', { authorization: basicUser('alice', USERS.alice.password) });
    expect(res.status).toBe(200);
    expect(res.body.headers).toMatchObject({ 'x-auth-subject': 'alice', 'x-auth-client-id': 'pw-only', 'x-auth-scope': 'read' });
  });

  it('still accepts a Bearer token on a bearer-or-basic route', async () => {
    const res = await get('/legacy/x', { authorization: `Bearer ${await env.accessToken('joe', { scope: 'edit' })}` });
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
    expect(env.gw.logs().filter((l) => l.msg === 'request' && l.error === 'invalid_credentials').length).toBeGreaterThanOrEqual(4);
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
    const token = await env.password('alice');
    expect(token.status).toBe(400);
    expect(token.json.error).toBe('invalid_grant');
    expect(await metrics()).toMatch(/ropc_lockouts_total\{kind="user"\} [1-9]/);
  });

  it('works on the decision endpoint too', async () => {
    const res = await fetch(`${env.gw.url}/_ropc/auth`, {
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/legacy/x', authorization: basicUser('joe', USERS.joe.password) },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-auth-subject')).toBe('joe');
    expect(res.headers.get('x-auth-client-id')).toBe('app');
  });
});
