/**
 * The refresh reuse grace (`oauth.refreshReuseGraceSeconds`, docs/security.md "Refresh reuse
 * grace") across two gateway replicas sharing a real redis-server: concurrent refreshes with
 * one refresh token all get the same successor pair and the family lives; with the default 0
 * exactly one succeeds and the family is revoked (RFC 9700 §4.14.2); a reuse after the window,
 * or by another client, still revokes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { sleep } from '../support/wait-for.js';

let upstream: Upstream;
let redis: RedisProcess;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  upstream = await startEchoUpstream();
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(gateways.map((gw) => gw.stop()));
  await upstream?.close();
  await redis?.stop();
});

/** Two replicas on one Redis key prefix. */
async function replicas(graceSeconds: number): Promise<[TestGateway, TestGateway]> {
  const keyPrefix = `grace${graceSeconds}${Math.random().toString(36).slice(2, 8)}:`;
  const start = () =>
    startGateway({
      upstream: upstream.url,
      redisUrl: redis.url,
      config: { store: { redis: { keyPrefix } }, oauth: { refreshReuseGraceSeconds: graceSeconds } },
    });
  const pair = await Promise.all([start(), start()]);
  gateways.push(...pair);
  return pair;
}

async function login(gw: TestGateway): Promise<{ access_token: string; refresh_token: string }> {
  const res = await postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, {
    authorization: basicAuth(),
  });
  expect(res.status).toBe(200);
  return res.json as { access_token: string; refresh_token: string };
}

const refresh = (gw: TestGateway, token: string, auth = basicAuth()) =>
  postForm(gw.tokenUrl, `grant_type=refresh_token&refresh_token=${token}`, { authorization: auth });
const active = async (gw: TestGateway, token: string) =>
  (await postForm(`${gw.url}/as/introspect.oauth2`, `token=${token}`, { authorization: basicAuth() })).json.active;

describe('refresh reuse grace across two replicas', () => {
  it('gives 20 concurrent refreshes the same successor pair, and the family lives', async () => {
    const [a, b] = await replicas(30);
    const first = await login(a);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => refresh(i % 2 ? b : a, first.refresh_token)));
    for (const r of results) expect(r.status).toBe(200);
    const pairs = new Set(results.map((r) => `${String(r.json.access_token)} ${String(r.json.refresh_token)}`));
    expect(pairs.size).toBe(1);
    const successor = results[0]!.json;
    expect(successor.refresh_token).not.toBe(first.refresh_token);
    expect(successor.expires_in).toBeGreaterThan(0);
    expect(await active(b, successor.access_token as string)).toBe(true);
    expect(await active(a, first.access_token)).toBe(true);
    // The successor rotates as usual; then the first token is no longer the one rotated last.
    const third = await refresh(b, successor.refresh_token as string);
    expect(third.status).toBe(200);
    expect((await refresh(a, first.refresh_token)).json.error).toBe('invalid_grant');
    expect(await active(b, third.json.access_token as string)).toBe(false);
    expect(a.logText() + b.logText()).not.toContain(first.refresh_token);
  });

  it('revokes the family when another client presents the rotated token within the window', async () => {
    const [a, b] = await replicas(30);
    const first = await login(a);
    const successor = (await refresh(a, first.refresh_token)).json;
    const other = await refresh(b, first.refresh_token, basicAuth('other', 'app-secret'));
    expect(other.status).toBe(400);
    expect(other.json.error).toBe('invalid_grant');
    expect(await active(a, successor.access_token as string)).toBe(false);
    expect((await refresh(a, successor.refresh_token as string)).json.error).toBe('invalid_grant');
  });

  it('with the default 0: exactly one of 20 succeeds and the family is revoked', async () => {
    const [a, b] = await replicas(0);
    const first = await login(a);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => refresh(i % 2 ? b : a, first.refresh_token)));
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(r.json.error).toBe('invalid_grant');
    expect(await active(a, winners[0]!.json.access_token as string)).toBe(false);
  });

  it('real time (the Redis store times the window by the system clock): revokes on a reuse after the window', async () => {
    const [a, b] = await replicas(1);
    const first = await login(a);
    const successor = (await refresh(a, first.refresh_token)).json;
    expect((await refresh(b, first.refresh_token)).json.refresh_token).toBe(successor.refresh_token);
    await sleep(1200);
    const late = await refresh(b, first.refresh_token);
    expect(late.json.error).toBe('invalid_grant');
    expect(await active(a, successor.access_token as string)).toBe(false);
    expect(b.logs().some((l) => l.event === 'refresh_token_reuse')).toBe(true);
  });
});
