/**
 * The local token cache (src/tokens/cache.ts, `store.cacheTtlMs`) against the memory store, on
 * a moved clock: positive answers only, never past a token's exp, revocations dropped as they
 * are heard. Across replicas on Redis: test/integration/cache-invalidation.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { TokenCache } from '../../src/tokens/cache.js';
import { MemoryTokenStore } from '../../src/tokens/memory-store.js';
import { newFamilyId, newToken } from '../../src/tokens/token-value.js';
import type { GrantRecord, RevocationEvent, TokenStore } from '../../src/tokens/types.js';
import { TestClock } from '../support/test-clock.js';
import { waitFor } from '../support/wait-for.js';

describe('TokenCache', () => {
  function issue(store: TokenStore, ttlSeconds = 3600): { token: string; record: GrantRecord; familyId: string } {
    const familyId = newFamilyId();
    const now = Math.floor(Date.now() / 1000);
    const record: GrantRecord = {
      sub: 'joe',
      clientId: 'app',
      scope: ['read'],
      groups: [],
      attributes: {},
      validator: 'local',
      familyId,
      iat: now,
      exp: now + ttlSeconds,
    };
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
    let reached = false;
    const inner = new MemoryTokenStore();
    const listeners: ((e: RevocationEvent) => void)[] = [];
    const slow = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'getAccess') {
          return async (token: string) => {
            const record = await target.getAccess(token);
            reached = true;
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
    await waitFor(() => reached, 5000, 'the lookup to reach the store');
    for (const l of listeners) l({ kind: 'family', familyId });
    release?.();
    expect(await pending).not.toBeNull();
    expect(cache.size).toBe(0);
    await cache.close();
  });
});
