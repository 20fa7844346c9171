/**
 * A refresh never widens and never keeps a scope the configuration no longer grants
 * (docs/validators.md, "Scopes and groups"; RFC 6749 §6), across two real gateways sharing a
 * real Redis store: gateway `before` issues `admin` to joe (its users file maps no group to
 * admin, so admin is open), gateway `after` gates `admin` to `admins` — the configuration of
 * an operator who found that groupScopes did not gate. A refresh at `after` drops `admin` for
 * good and says so in the response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';

let redis: RedisProcess;
let upstream: Upstream;
let before: TestGateway;
let after: TestGateway;

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startEchoUpstream()]);
  const store = { store: { redis: { keyPrefix: `scoperefresh${Date.now()}:` } } };
  before = await startGateway({ upstream: upstream.url, redisUrl: redis.url, config: store });
  after = await startGateway({
    upstream: upstream.url,
    redisUrl: redis.url,
    config: { ...store, validators: [{ name: 'local', type: 'file', path: 'users.yaml', groupScopes: { admins: ['admin'] } }] },
  });
});
afterAll(async () => {
  await Promise.all([before?.stop(), after?.stop()]);
  await Promise.all([upstream?.close(), redis?.stop()]);
});

const token = (gw: TestGateway, body: string) => postForm(gw.tokenUrl, body, { authorization: basicAuth() });
const refresh = (gw: TestGateway, refreshToken: string, scope = '') =>
  token(gw, `grant_type=refresh_token&refresh_token=${refreshToken}${scope ? `&scope=${scope}` : ''}`);
async function scopeSeen(gw: TestGateway, accessToken: string): Promise<string | undefined> {
  const res = await fetch(`${gw.url}/api`, { headers: { authorization: `Bearer ${accessToken}` } });
  return ((await res.json()) as { headers: Record<string, string> }).headers['x-auth-scope'];
}

describe('refresh under a configuration that gates a scope', () => {
  it('drops a scope the user no longer may have, names the narrower scope, and never gives it back', async () => {
    const first = await token(before, `grant_type=password&username=joe&password=${USERS.joe.password}&scope=read%20admin`);
    expect(first.status).toBe(200);

    const refreshed = await refresh(after, first.json.refresh_token as string);
    expect(refreshed.status).toBe(200);
    // RFC 6749 §5.1: the scope differs from the one of the refresh token, so it is named.
    expect(refreshed.json.scope).toBe('read');
    expect(await scopeSeen(after, refreshed.json.access_token as string)).toBe('read');

    // The rotated refresh token no longer carries admin: asking for it is widening.
    const again = await refresh(after, refreshed.json.refresh_token as string, 'admin');
    expect(again.status).toBe(400);
    expect(again.json).toEqual({ error: 'invalid_scope', error_description: 'a refresh may narrow the scope, never widen it' });
  });

  it('keeps the scope of a member of the gating group', async () => {
    const first = await token(
      before,
      `grant_type=password&username=alice&password=${encodeURIComponent(USERS.alice.password)}&scope=read%20admin`,
    );
    const refreshed = await refresh(after, first.json.refresh_token as string);
    expect(refreshed.status).toBe(200);
    expect(refreshed.json.scope).toBe('read admin');
  });

  it('refuses to refresh to a scope no longer granted when the request names it', async () => {
    const first = await token(before, `grant_type=password&username=joe&password=${USERS.joe.password}&scope=admin`);
    const named = await refresh(after, first.json.refresh_token as string, 'admin');
    expect(named.json).toEqual({ error: 'invalid_scope', error_description: 'scope "admin" is no longer granted to this user' });
  });
});
