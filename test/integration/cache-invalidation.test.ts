/**
 * Revocation that reaches every replica (docs/architecture.md, `store.cacheTtlMs`): two gateways share one
 * real redis-server and key prefix, each with a 60 s local token cache. A revocation on one —
 * through the revocation endpoint, reuse detection or the `revoke` command — is refused by the
 * other long before its cache entry would run out; with Redis gone the cache fails closed.
 * The TokenCache itself is checked against the memory store in test/unit/token-cache.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { revokeCommand } from '../../src/cli/revoke.js';

let upstream: Upstream;
let redis: RedisProcess;
let a: TestGateway;
let b: TestGateway;
const prefix = `cache${Date.now()}:`;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  redis = await startRedis();
  const config = { store: { cacheTtlMs: 60_000, redis: { keyPrefix: prefix } } };
  [a, b] = await Promise.all([
    startGateway({ upstream: upstream.url, redisUrl: redis.url, config }),
    startGateway({ upstream: upstream.url, redisUrl: redis.url, config }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await upstream?.close();
  await redis?.stop();
});

interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
}

async function login(gw: TestGateway, username: 'joe' | 'alice' = 'joe'): Promise<Tokens> {
  const res = await postForm(
    gw.tokenUrl,
    `grant_type=password&username=${username}&password=${encodeURIComponent(USERS[username].password)}`,
    { authorization: basicAuth() },
  );
  expect(res.status).toBe(200);
  return res.json as unknown as Tokens;
}
const call = async (gw: TestGateway, token: string): Promise<number> =>
  (await fetch(`${gw.url}/api`, { headers: { authorization: `Bearer ${token}` } })).status;
const revoke = (gw: TestGateway, token: string) => postForm(gw.revocationUrl, `token=${token}`, { authorization: basicAuth() });

/** How many access-token lookups reached the store of `gw` (the cache answers the rest). */
async function storeLookups(gw: TestGateway): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const line = /ropc_store_duration_seconds_count\{operation="getAccess",outcome="ok"\} (\d+)/.exec(text);
  return Number(line?.[1] ?? 0);
}

/** Warms B's cache with `token` and proves B now answers it from the cache. */
async function cachedOnB(token: string): Promise<void> {
  await expect.poll(() => call(b, token), { timeout: 5000, interval: 50 }).toBe(200);
  const before = await storeLookups(b);
  for (let i = 0; i < 3; i++) expect(await call(b, token)).toBe(200);
  expect(await storeLookups(b)).toBe(before);
}

/**
 * B refuses `token`: polled for at most 10 s, a sixth of B's 60 s cache TTL, so the refusal can
 * only come from the invalidation reaching B, never from its cache entry running out (how fast
 * the message travels depends on the machine, not on the behaviour).
 */
async function refusedOnB(token: string): Promise<void> {
  await expect.poll(() => call(b, token), { timeout: 10_000, interval: 5 }).toBe(401);
}

describe('a revocation on one replica reaches the cache of the other', () => {
  it('revoking a refresh token on A: B refuses the family at once', async () => {
    const tokens = await login(a);
    await cachedOnB(tokens.access_token);
    expect((await revoke(a, tokens.refresh_token)).status).toBe(200);
    await refusedOnB(tokens.access_token);
  });

  it('a cache hit is answered like a lookup: identity upstream, counted as ours', async () => {
    const { access_token } = await login(b);
    await cachedOnB(access_token);
    const sources = async () =>
      Number(/ropc_resource_token_source_total\{source="ours"\} (\d+)/.exec(await (await fetch(`${b.adminUrl}/metrics`)).text())?.[1] ?? 0);
    const before = await sources();
    const lookups = await storeLookups(b);
    const res = await fetch(`${b.url}/api/x?y=1`, { headers: { authorization: `Bearer ${access_token}`, 'x-auth-subject': 'root' } });
    const body = (await res.json()) as { path: string; headers: Record<string, string> };
    expect(res.status).toBe(200);
    expect(body.path).toBe('/api/x?y=1');
    expect(body.headers['x-auth-subject']).toBe('joe');
    expect(body.headers).not.toHaveProperty('authorization');
    expect(await sources()).toBe(before + 1);
    expect(await storeLookups(b)).toBe(lookups);
  });

  it('revoking one access token on A: B refuses it at once, and A at the very next request', async () => {
    const tokens = await login(a);
    await cachedOnB(tokens.access_token);
    expect(await call(a, tokens.access_token)).toBe(200);
    expect((await revoke(a, tokens.access_token)).status).toBe(200);
    expect(await call(a, tokens.access_token)).toBe(401);
    await refusedOnB(tokens.access_token);
  });

  it('refresh-token reuse detected on A: B refuses the family at once', async () => {
    const tokens = await login(a);
    const rotated = await postForm(a.tokenUrl, `grant_type=refresh_token&refresh_token=${tokens.refresh_token}`, {
      authorization: basicAuth(),
    });
    await cachedOnB(rotated.json.access_token as string);
    const reuse = await postForm(a.tokenUrl, `grant_type=refresh_token&refresh_token=${tokens.refresh_token}`, {
      authorization: basicAuth(),
    });
    expect(reuse.json.error).toBe('invalid_grant');
    await refusedOnB(rotated.json.access_token as string);
  });

  it('the revoke command (another process, no cache of its own): both refuse at once', async () => {
    const tokens = await login(a, 'alice');
    await cachedOnB(tokens.access_token);
    expect(await call(a, tokens.access_token)).toBe(200);
    const file = join(a.dir, 'revoke.yaml');
    writeFileSync(
      file,
      stringify({ store: { type: 'redis', redis: { url: redis.url, keyPrefix: prefix } }, upstream: { url: upstream.url } }),
    );
    const out: string[] = [];
    const io = { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => out.push(t) }, stdin: Readable.from([]) };
    expect(await revokeCommand(['--config', file, '--subject', 'alice'], io)).toBe(0);
    await refusedOnB(tokens.access_token);
    expect(await call(a, tokens.access_token)).toBe(401);
  });
});

describe('the cache fails closed', () => {
  it.each(['hung', 'stopped'] as const)('Redis %s: a cached token is refused with 503, then works again after recovery', async (fault) => {
    const tokens = await login(a);
    await cachedOnB(tokens.access_token);
    if (fault === 'stopped') await redis.stop();
    else redis.pause();
    try {
      // The subscriber notices at once (closed socket) or by its 1 s heartbeat (hung Redis).
      await expect.poll(() => call(b, tokens.access_token), { timeout: 4000, interval: 100 }).toBe(503);
    } finally {
      if (fault === 'stopped') await redis.restart();
      else redis.resume();
    }
    if (fault === 'hung') {
      await expect.poll(() => call(b, tokens.access_token), { timeout: 10_000, interval: 100 }).toBe(200);
      return;
    }
    // A restarted Redis is empty: the token is gone everywhere, new logins work again.
    await expect
      .poll(
        async () =>
          (await postForm(a.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, { authorization: basicAuth() }))
            .status,
        { timeout: 15_000, interval: 250 },
      )
      .toBe(200);
    await expect.poll(() => call(b, tokens.access_token), { timeout: 5000, interval: 100 }).toBe(401);
    const fresh = await login(a);
    await cachedOnB(fresh.access_token);
    expect((await revoke(a, fresh.refresh_token)).status).toBe(200);
    await refusedOnB(fresh.access_token);
  });
});
