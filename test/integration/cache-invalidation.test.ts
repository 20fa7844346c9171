/**
 * Revocation that reaches every replica (DESIGN §5, `store.cacheTtlMs`): two gateways share one
 * real redis-server and key prefix, each with a 60 s local token cache. A revocation on one —
 * through the revocation endpoint, reuse detection or the `revoke` command — is refused by the
 * other long before its cache entry would run out; with Redis gone the cache fails closed.
 * The TokenCache itself is checked against the memory store at the end.
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
import { TokenCache } from '../../src/tokens/cache.js';
import { MemoryTokenStore } from '../../src/tokens/memory-store.js';
import { newFamilyId, newToken } from '../../src/tokens/token-value.js';
import type { GrantRecord, RevocationEvent, TokenStore } from '../../src/tokens/types.js';
import { TestClock } from '../support/test-clock.js';
import { sleep } from '../support/wait-for.js';

let upstream: Upstream;
let redis: RedisProcess;
let a: TestGateway;
let b: TestGateway;
const prefix = `cache${Date.now()}:`;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  redis = await startRedis();
  const config = { store: { cacheTtlMs: 60_000, redis: { keyPrefix: prefix } } };
  [a, b] = await Promise.all([startGateway({ upstream: upstream.url, redisUrl: redis.url, config }), startGateway({ upstream: upstream.url, redisUrl: redis.url, config })]);
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
  const res = await postForm(`${gw.url}/as/token.oauth2`, `grant_type=password&username=${username}&password=${encodeURIComponent(USERS[username].password)}`, { authorization: basicAuth() });
  expect(res.status).toBe(200);
  return res.json as unknown as Tokens;
}
const call = async (gw: TestGateway, token: string): Promise<number> => (await fetch(`${gw.url}/api`, { headers: { authorization: `Bearer ${token}` } })).status;
const revoke = (gw: TestGateway, token: string) => postForm(`${gw.url}/as/revoke_token.oauth2`, `token=${token}`, { authorization: basicAuth() });

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
    const sources = async () => Number(/ropc_resource_token_source_total\{source="ours"\} (\d+)/.exec(await (await fetch(`${b.adminUrl}/metrics`)).text())?.[1] ?? 0);
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
    const rotated = await postForm(`${a.url}/as/token.oauth2`, `grant_type=refresh_token&refresh_token=${tokens.refresh_token}`, { authorization: basicAuth() });
    await cachedOnB(rotated.json.access_token as string);
    const reuse = await postForm(`${a.url}/as/token.oauth2`, `grant_type=refresh_token&refresh_token=${tokens.refresh_token}`, { authorization: basicAuth() });
    expect(reuse.json.error).toBe('invalid_grant');
    await refusedOnB(rotated.json.access_token as string);
  });

  it('the revoke command (another process, no cache of its own): both refuse at once', async () => {
    const tokens = await login(a, 'alice');
    await cachedOnB(tokens.access_token);
    expect(await call(a, tokens.access_token)).toBe(200);
    const file = join(a.dir, 'revoke.yaml');
    writeFileSync(file, stringify({ store: { type: 'redis', redis: { url: redis.url, keyPrefix: prefix } }, upstream: { url: upstream.url } }));
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
    await expect.poll(async () => (await postForm(`${a.url}/as/token.oauth2`, `grant_type=password&username=joe&password=${USERS.joe.password}`, { authorization: basicAuth() })).status, { timeout: 15_000, interval: 250 }).toBe(200);
    await expect.poll(() => call(b, tokens.access_token), { timeout: 5000, interval: 100 }).toBe(401);
    const fresh = await login(a);
    await cachedOnB(fresh.access_token);
    expect((await revoke(a, fresh.refresh_token)).status).toBe(200);
    await refusedOnB(fresh.access_token);
  });
});

describe('TokenCache', () => {
  function issue(store: TokenStore, ttlSeconds = 3600): { token: string; record: GrantRecord; familyId: string } {
    const familyId = newFamilyId();
    const now = Math.floor(Date.now() / 1000);
    const record: GrantRecord = { sub: 'joe', clientId: 'app', scope: ['read'], groups: [], attributes: {}, validator: 'local', familyId, iat: now, exp: now + ttlSeconds };
    const token = newToken(familyId);
    void store.createFamily({ familyId, sub: 'joe', clientId: 'app', exp: now + 86_400, access: { token, record } });
    return { token, record, familyId };
  }

  /** The memory store, counting getAccess calls. */
  function countingStore(clock?: TestClock): { store: MemoryTokenStore; lookups: () => number } {
    const store = new MemoryTokenStore(clock ? { clock } : {});
    let n = 0;
    const original = store.getAccess.bind(store);
    store.getAccess = (token: string) => {
      n++;
      return original(token);
    };
    return { store, lookups: () => n };
  }

  it('caches positive answers only, for ttlMs', async () => {
    const clock = new TestClock();
    const { store, lookups } = countingStore(clock);
    const cache = new TokenCache(store, { ttlMs: 200, clock });
    const { token, record } = issue(store);
    expect(await cache.lookup(token)).toEqual(record);
    expect(await cache.lookup(token)).toEqual(record);
    expect(lookups()).toBe(1);
    const unknown = newToken(newFamilyId());
    expect(await cache.lookup(unknown)).toBeNull();
    expect(await cache.lookup(unknown)).toBeNull();
    expect(lookups()).toBe(3);
    expect(await cache.lookup('not a token')).toBeNull();
    expect(lookups()).toBe(3);
    clock.advance(250);
    await cache.lookup(token);
    expect(lookups()).toBe(4);
    await cache.close();
    await store.close();
  });

  it('peek answers a live entry without the store, and nothing else', async () => {
    const clock = new TestClock();
    const { store, lookups } = countingStore(clock);
    const cache = new TokenCache(store, { ttlMs: 200, clock });
    const { token, record } = issue(store);
    // Before any lookup: only the store can tell, and peek does not ask it.
    expect(cache.peek(token)).toBeUndefined();
    expect(lookups()).toBe(0);
    await cache.lookup(token);
    expect(cache.peek(token)).toEqual(record);
    expect(cache.peek('not a token')).toBeUndefined();
    expect(cache.peek(newToken(newFamilyId()))).toBeUndefined();
    expect(lookups()).toBe(1);
    clock.advance(250);
    expect(cache.peek(token)).toBeUndefined();
    await store.revokeAccess(token);
    await cache.lookup(token);
    expect(cache.peek(token)).toBeUndefined();
    await cache.close();
  });

  it('never serves an entry past the token exp', async () => {
    const clock = new TestClock();
    const { store } = countingStore(clock);
    const cache = new TokenCache(store, { ttlMs: 60_000, clock });
    const { token } = issue(store, 1);
    expect(await cache.lookup(token)).not.toBeNull();
    clock.advance(1100);
    expect(await cache.lookup(token)).toBeNull();
    await cache.close();
  });

  it('drops revoked families and tokens, and keeps at most maxEntries', async () => {
    const { store, lookups } = countingStore();
    const cache = new TokenCache(store, { ttlMs: 60_000, maxEntries: 2 });
    const x = issue(store);
    const y = issue(store);
    await cache.lookup(x.token);
    await cache.lookup(y.token);
    await store.revokeAccess(x.token);
    expect(await cache.lookup(x.token)).toBeNull();
    await store.revokeFamily(y.familyId);
    expect(await cache.lookup(y.token)).toBeNull();
    const tokens = [issue(store), issue(store), issue(store)];
    for (const t of tokens) await cache.lookup(t.token);
    expect(cache.size).toBe(2);
    const before = lookups();
    await cache.lookup(tokens[0]!.token);
    expect(lookups()).toBe(before + 1);
    await cache.close();
  });

  it('does not store an answer that was in flight while a revocation arrived', async () => {
    let release: (() => void) | undefined;
    const inner = new MemoryTokenStore();
    const listeners: ((e: RevocationEvent) => void)[] = [];
    const slow = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'getAccess') {
          return async (token: string) => {
            const record = await target.getAccess(token);
            await new Promise<void>((r) => (release = r));
            return record;
          };
        }
        if (property === 'watchRevocations') {
          return (l: (e: RevocationEvent) => void) => {
            listeners.push(l);
            return { live: true, close: async () => {} };
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const cache = new TokenCache(slow, { ttlMs: 60_000 });
    const { token, familyId } = issue(inner);
    const pending = cache.lookup(token);
    await sleep(10);
    for (const l of listeners) l({ kind: 'family', familyId });
    release?.();
    expect(await pending).not.toBeNull();
    expect(cache.size).toBe(0);
    await cache.close();
  });
});
