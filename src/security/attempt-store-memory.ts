/**
 * {@link AttemptStore} in process memory: the companion of the memory token store (dev mode,
 * one process). Expired counters are dropped when read and by a periodic sweep; the number of
 * counters is bounded so a spray of usernames cannot grow memory without end (the oldest go
 * first, which only ever forgets failures of idle names).
 */
import type { AttemptStore, LockPolicy, UserState } from './attempt-store.js';

interface UserEntry {
  failures: number;
  /** Locks so far (the doubling level). */
  level: number;
  /** ms since the epoch; 0 when not locked. */
  lockedUntil: number;
  /** The entry is forgotten at this time, ms since the epoch. */
  expires: number;
}

interface IpEntry {
  count: number;
  windowEnd: number;
}

export interface MemoryAttemptStoreOptions {
  /** Counters kept at most, users and IPs each. Default 100 000. */
  readonly maxEntries?: number;
  /** Sweep interval, ms. Default 60 000. */
  readonly sweepIntervalMs?: number;
}

export class MemoryAttemptStore implements AttemptStore {
  readonly #users = new Map<string, UserEntry>();
  readonly #ips = new Map<string, IpEntry>();
  readonly #maxEntries: number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryAttemptStoreOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 60_000);
    this.#sweeper.unref();
  }

  async userState(user: string): Promise<UserState> {
    const entry = this.#user(user, Date.now());
    if (!entry) return { lockedMs: 0, recorded: false };
    return { lockedMs: Math.max(0, entry.lockedUntil - Date.now()), recorded: true };
  }

  async userFailure(user: string, policy: LockPolicy): Promise<number> {
    const now = Date.now();
    const entry = this.#user(user, now) ?? { failures: 0, level: 0, lockedUntil: 0, expires: 0 };
    if (entry.lockedUntil > now) return 0;
    entry.failures += 1;
    let lockMs = 0;
    if (entry.failures >= policy.maxFailures) {
      entry.level += 1;
      lockMs = Math.min(policy.lockMs * 2 ** (entry.level - 1), policy.maxLockMs);
      entry.lockedUntil = now + lockMs;
      entry.failures = 0;
    }
    entry.expires = now + lockMs + policy.resetMs;
    this.#set(this.#users, user, entry);
    return lockMs;
  }

  async userSuccess(user: string): Promise<void> {
    this.#users.delete(user);
  }

  async ipFailures(ip: string): Promise<number> {
    return this.#ip(ip, Date.now())?.count ?? 0;
  }

  async ipFailure(ip: string, windowMs: number): Promise<number> {
    const now = Date.now();
    const entry = this.#ip(ip, now) ?? { count: 0, windowEnd: now + windowMs };
    entry.count += 1;
    this.#set(this.#ips, ip, entry);
    return entry.count;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  #user(user: string, now: number): UserEntry | undefined {
    const entry = this.#users.get(user);
    if (entry && entry.expires <= now) {
      this.#users.delete(user);
      return undefined;
    }
    return entry;
  }

  #ip(ip: string, now: number): IpEntry | undefined {
    const entry = this.#ips.get(ip);
    if (entry && entry.windowEnd <= now) {
      this.#ips.delete(ip);
      return undefined;
    }
    return entry;
  }

  /** Sets `key` as the newest entry, dropping the oldest beyond the bound. */
  #set<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    while (map.size > this.#maxEntries) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) break;
      map.delete(oldest);
    }
  }

  #sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.#users) if (entry.expires <= now) this.#users.delete(key);
    for (const [key, entry] of this.#ips) if (entry.windowEnd <= now) this.#ips.delete(key);
  }
}
