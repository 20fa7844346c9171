/**
 * The remembered-success cache of client secrets and Basic bridge logins
 * (security/success-cache.ts): bounded with oldest-first eviction, expired entries dropped,
 * keyed by an HMAC that never holds the secret.
 */
import { describe, expect, it } from 'vitest';
import { SuccessCache } from '../../src/security/success-cache.js';

describe('SuccessCache', () => {
  it('keeps at most maxEntries, evicting the oldest first', () => {
    const cache = new SuccessCache<number>({ ttlMs: 60_000, maxEntries: 3 });
    const keys = ['a', 'b', 'c', 'd'].map((id) => cache.key(id, 'secret'));
    for (const [i, k] of keys.entries()) cache.set(k, i);
    expect(keys.map((k) => cache.get(k))).toEqual([undefined, 1, 2, 3]);
  });

  it('forgets an entry after ttlMs, and remembers nothing with ttlMs 0', () => {
    let now = 1_000;
    const cache = new SuccessCache<string>({ ttlMs: 10, now: () => now });
    const key = cache.key('client', 'secret');
    cache.set(key, 'ok');
    now += 9;
    expect(cache.get(key)).toBe('ok');
    now += 1;
    expect(cache.get(key)).toBeUndefined();
    const off = new SuccessCache<string>({ ttlMs: 0 });
    off.set(key, 'ok');
    expect(off.get(key)).toBeUndefined();
  });

  it('names an entry by an HMAC under a per-process key, never by the secret', () => {
    const one = new SuccessCache<number>({ ttlMs: 1000 });
    const other = new SuccessCache<number>({ ttlMs: 1000 });
    const key = one.key('client', 'hunter2');
    expect(key).not.toContain('hunter2');
    expect(key).toBe(one.key('client', 'hunter2'));
    expect(key).not.toBe(one.key('client', 'hunter3'));
    expect(key).not.toBe(other.key('client', 'hunter2'));
  });
});
