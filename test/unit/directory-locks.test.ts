import { describe, expect, it } from 'vitest';
import { DirectoryLocks } from '../../src/security/directory-locks.js';

describe('DirectoryLocks', () => {
  it('remembers a lock for its time and forgets it after', () => {
    let now = 1_000;
    const locks = new DirectoryLocks(60_000, () => now);
    expect(locks.has('k')).toBe(false);
    locks.add('k');
    expect(locks.has('k')).toBe(true);
    now += 59_999;
    expect(locks.has('k')).toBe(true);
    now += 1;
    expect(locks.has('k')).toBe(false);
    expect(locks.size).toBe(0);
  });

  it('keeps at most 10 000 accounts, forgetting the oldest first', () => {
    const locks = new DirectoryLocks(60_000, () => 0);
    for (let i = 0; i <= 10_000; i++) locks.add(`k${i}`);
    expect(locks.size).toBe(10_000);
    expect(locks.has('k0')).toBe(false);
    expect(locks.has('k1')).toBe(true);
    expect(locks.has('k10000')).toBe(true);
  });
});
