/**
 * Secrets in logs (docs/security.md: logs never contain passwords, client secrets, tokens
 * or Authorization headers), at debug level, after every kind of traffic that handles one:
 * the password grant (Basic and client_secret_post), refresh and refresh-token reuse,
 * revocation (own, foreign, both kinds of token), introspection, bad logins up to a lockout
 * (one with a password typed into the username field), an unsupported grant_type, the Basic
 * bridge (good and bad), and proxied calls (valid, forged and query-string tokens, an upstream
 * that refuses). test/integration/logs.test.ts covers the completion line's shape; this file
 * widens the traffic, and checks that every path it meant to take was logged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, CLIENT, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { deadPort, startEchoUpstream, type Upstream } from '../support/echo-upstream.js';

let gw: TestGateway;
let upstream: Upstream;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  const dead = await deadPort();
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      log: { level: 'debug' },
      lockout: { maxFailures: 3 },
      routes: [
        { path: '/legacy/**', auth: 'bearer-or-basic', basicClient: 'app' },
        { path: '/dead/**', upstream: `http://127.0.0.1:${dead}` },
      ],
    },
  });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

const userBasic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

describe('secrets never reach the log, at debug level', () => {
  it('after a full round of token, refresh, revoke, introspect, bad logins, Basic bridge and proxied calls', async () => {
    const url = (path: string) => `${gw.url}${path}`;
    const token = (body: string, headers: Record<string, string> = { authorization: basicAuth() }) =>
      postForm(url('/as/token.oauth2'), body, headers);
    const revoke = (body: string, client = 'app') => postForm(url('/as/revoke_token.oauth2'), body, { authorization: basicAuth(client) });
    const introspect = (body: string) => postForm(url('/as/introspect.oauth2'), body, { authorization: basicAuth() });
    const resource = (path: string, authorization?: string) =>
      fetch(url(path), authorization ? { headers: { authorization } } : {}).then((r) => r.status);

    const typedIntoUsername = 'Typed-Password-In-Username-7!';
    const wrong = 'wrong-password-123';
    const forged = 'forged-bearer-value-that-looks-secret';
    const secrets: string[] = [
      CLIENT.secret,
      encodeURIComponent(CLIENT.secret),
      basicAuth(),
      USERS.joe.password,
      USERS.alice.password,
      encodeURIComponent(USERS.alice.password),
      typedIntoUsername,
      encodeURIComponent(typedIntoUsername),
      wrong,
      forged,
      userBasic('joe', USERS.joe.password),
      userBasic('joe', wrong),
    ];
    const keep = (...values: unknown[]) => {
      for (const v of values) {
        expect(typeof v, 'a token was issued').toBe('string');
        secrets.push(v as string);
      }
    };
    const expectStatus = async (pending: Promise<{ status: number } | number>, status: number, what: string) => {
      const got = await pending;
      expect(typeof got === 'number' ? got : got.status, what).toBe(status);
    };

    // The password grant, with Basic client authentication and with client_secret_post.
    const first = await token(`grant_type=password&username=joe&password=${USERS.joe.password}&scope=read%20edit`);
    keep(first.json.access_token, first.json.refresh_token);
    const post = await token(
      `grant_type=password&username=alice&password=${encodeURIComponent(USERS.alice.password)}&client_id=app&client_secret=${CLIENT.secret}`,
      {},
    );
    keep(post.json.access_token, post.json.refresh_token);

    // Refresh, then reuse of the rotated refresh token (a security event that revokes the family).
    const rotated = await token(`grant_type=refresh_token&refresh_token=${first.json.refresh_token as string}`);
    keep(rotated.json.access_token, rotated.json.refresh_token);
    await expectStatus(token(`grant_type=refresh_token&refresh_token=${first.json.refresh_token as string}`), 400, 'refresh token reuse');

    // Introspection: an active access token, a refresh token, garbage.
    const second = await token(`grant_type=password&username=joe&password=${USERS.joe.password}`);
    keep(second.json.access_token, second.json.refresh_token);
    expect((await introspect(`token=${second.json.access_token as string}`)).json.active).toBe(true);
    expect((await introspect(`token=${second.json.refresh_token as string}&token_type_hint=refresh_token`)).json.active).toBe(true);
    expect((await introspect(`token=${forged}`)).json.active).toBe(false);

    // Proxied calls: a valid token, a forged one, one in the query string, a refusing upstream.
    await expectStatus(resource('/api/items', `Bearer ${second.json.access_token as string}`), 200, 'valid bearer');
    await expectStatus(resource('/api/items', `Bearer ${forged}`), 401, 'forged bearer');
    await expectStatus(resource(`/api/items?access_token=${second.json.access_token as string}`), 400, 'token in the query');
    await expectStatus(resource('/dead/x', `Bearer ${second.json.access_token as string}`), 502, 'refusing upstream');
    await expectStatus(resource('/api/items', basicAuth()), 401, 'client credentials on the resource path');

    // Revocation: a foreign token (another client's), an access token, a refresh token (its family).
    await expectStatus(revoke(`token=${second.json.access_token as string}`, 'other'), 200, 'foreign revocation');
    await expectStatus(revoke(`token=${second.json.access_token as string}&token_type_hint=access_token`), 200, 'revoke access');
    await expectStatus(revoke(`token=${post.json.refresh_token as string}&token_type_hint=refresh_token`), 200, 'revoke refresh');
    await expectStatus(resource('/api/items', `Bearer ${second.json.access_token as string}`), 401, 'revoked token');

    // The Basic bridge: good credentials, then wrong ones.
    await expectStatus(resource('/legacy/report', userBasic('joe', USERS.joe.password)), 200, 'Basic bridge');
    await expectStatus(resource('/legacy/report', userBasic('joe', wrong)), 401, 'Basic bridge, wrong password');

    // Bad logins: a wrong password, and a password typed into the username field until it locks.
    await expectStatus(token(`grant_type=password&username=alice&password=${wrong}`), 400, 'wrong password');
    for (let i = 0; i < 4; i++)
      await expectStatus(
        token(`grant_type=password&username=${encodeURIComponent(typedIntoUsername)}&password=${USERS.joe.password}`),
        400,
        'unknown user',
      );
    // A client that sends a secret where the grant type goes.
    await expectStatus(
      token(`grant_type=${encodeURIComponent(typedIntoUsername)}&username=joe&password=${USERS.joe.password}`),
      400,
      'unsupported grant type',
    );

    await expect.poll(() => gw.logs().filter((l) => l.msg === 'request').length).toBeGreaterThanOrEqual(25);
    const text = gw.logText();
    for (const secret of secrets) expect(text, `a secret leaked into the log: ${secret.slice(0, 6)}…`).not.toContain(secret);
    expect(text).not.toMatch(/authorization"\s*:\s*"(?!\[redacted\])/i);
    expect(text).not.toMatch(/"password"\s*:\s*"(?!\[redacted\])/i);

    // Every path meant above was taken, and logged.
    const events = new Set(gw.logs().map((l) => l.event ?? l.msg));
    for (const event of [
      'refresh_token_reuse',
      'token_revoked',
      'revocation_foreign_token',
      'user_locked',
      'login_refused',
      'upstream request failed',
    ]) {
      expect(events, event).toContain(event);
    }
    const lines = gw.logs().filter((l) => l.msg === 'request');
    expect(new Set(lines.map((l) => l.kind))).toEqual(new Set(['token', 'introspection', 'revocation', 'resource']));
    expect(lines.some((l) => l.route === '/legacy/**' && l.status === 200 && l.sub === 'joe')).toBe(true);
    // A made-up grant_type is logged as `other`, never as sent.
    expect(lines.filter((l) => l.error === 'unsupported_grant_type').map((l) => l.grantType)).toEqual(['other']);
  });
});
