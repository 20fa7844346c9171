/**
 * {@link AttemptStore} in process memory: the companion of the memory token store (dev mode,
 * one process). Every operation runs synchronously from its check to its write (no `await` in
 * between), so within the process a reservation is as atomic as the Redis scripts are across
 * replicas. Expired counters are dropped when read and by a periodic sweep; the number of
 * counters is bounded so a spray of usernames cannot grow memory without end (the oldest go
 * first, which only ever forgets failures of idle names). Reservations are held only while an
 * attempt is in flight, so their number is bounded by the concurrent logins.
 */
import { systemClock, type Clock } from '../clock.js';
import type { AttemptResult, AttemptStore, IpPolicy, IpReservation, LockPolicy, UserReservation, UserState } from './attempt-store.js';

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

/** Reservation id → when it lapses (ms since the epoch), per counter key. */
type Reservations = Map<string, Map<string, number>>;

export interface MemoryAttemptStoreOptions {
  /** Counters kept at most, users and IPs each. Default 100 000. */
  readonly maxEntries?: number;
  /** Sweep interval, ms. Default 60 000. */
  readonly sweepIntervalMs?: number;
  /** The time source of lock windows and counters (tests move it instead of sleeping). Default the system clock. */
  readonly clock?: Clock;
}

export class MemoryAttemptStore implements AttemptStore {
  readonly #users = new Map<string, UserEntry>();
  readonly #ips = new Map<string, IpEntry>();
  readonly #userReservations: Reservations = new Map();
  readonly #ipReservations: Reservations = new Map();
  readonly #maxEntries: number;
  readonly #sweeper: NodeJS.Timeout;
  readonly #clock: Clock;

  constructor(options: MemoryAttemptStoreOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#clock = options.clock ?? systemClock;
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 60_000);
    this.#sweeper.unref();
  }

  async userState(user: string): Promise<UserState> {
    const entry = this.#user(user, this.#clock.now());
    if (!entry) return { lockedMs: 0, recorded: false };
    return { lockedMs: Math.max(0, entry.lockedUntil - this.#clock.now()), recorded: true };
  }

  async reserveUser(user: string, id: string, policy: LockPolicy): Promise<UserReservation> {
    const now = this.#clock.now();
    const entry = this.#user(user, now);
    if (entry && entry.lockedUntil > now) return 'locked';
    if ((entry?.failures ?? 0) + inFlight(this.#userReservations, user, now) >= policy.maxFailures) return 'busy';
    reserve(this.#userReservations, user, id, now + policy.ttlMs);
    return 'reserved';
  }

  async settleUser(user: string, id: string, result: AttemptResult, policy: LockPolicy): Promise<number> {
    unreserve(this.#userReservations, user, id);
    if (result === 'success') this.#users.delete(user);
    if (result !== 'failure') return 0;
    const now = this.#clock.now();
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

  async ipFailures(ip: string): Promise<number> {
    return this.#ip(ip, this.#clock.now())?.count ?? 0;
  }

  async reserveIp(ip: string, id: string, policy: IpPolicy): Promise<IpReservation> {
    const now = this.#clock.now();
    const failures = this.#ip(ip, now)?.count ?? 0;
    if (failures >= policy.budget) return 'blocked';
    if (failures + inFlight(this.#ipReservations, ip, now) >= policy.budget) return 'busy';
    reserve(this.#ipReservations, ip, id, now + policy.ttlMs);
    return 'reserved';
  }

  async settleIp(ip: string, id: string, result: AttemptResult, policy: IpPolicy): Promise<number> {
    unreserve(this.#ipReservations, ip, id);
    if (result !== 'failure') return 0;
    const now = this.#clock.now();
    const entry = this.#ip(ip, now) ?? { count: 0, windowEnd: now + policy.windowMs };
    entry.count += 1;
    this.#set(this.#ips, ip, entry);
    return entry.count;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  #user(user: string, now: number): UserEntry | undefined {
    return live(this.#users, user, (e) => e.expires <= now);
  }

  #ip(ip: string, now: number): IpEntry | undefined {
    return live(this.#ips, ip, (e) => e.windowEnd <= now);
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
    const now = this.#clock.now();
    for (const [key, entry] of this.#users) if (entry.expires <= now) this.#users.delete(key);
    for (const [key, entry] of this.#ips) if (entry.windowEnd <= now) this.#ips.delete(key);
    for (const reservations of [this.#userReservations, this.#ipReservations])
      for (const key of [...reservations.keys()]) inFlight(reservations, key, now);
  }
}

/** Reservations of `key` still in flight at `now` (lapsed ones are dropped). */
function inFlight(reservations: Reservations, key: string, now: number): number {
  const ids = reservations.get(key);
  if (!ids) return 0;
  for (const [id, lapses] of ids) if (lapses <= now) ids.delete(id);
  if (ids.size === 0) reservations.delete(key);
  return ids.size;
}

function reserve(reservations: Reservations, key: string, id: string, lapses: number): void {
  let ids = reservations.get(key);
  if (!ids) {
    ids = new Map();
    reservations.set(key, ids);
  }
  ids.set(id, lapses);
}

function unreserve(reservations: Reservations, key: string, id: string): void {
  const ids = reservations.get(key);
  if (!ids) return;
  ids.delete(id);
  if (ids.size === 0) reservations.delete(key);
}

/** The entry of `key` unless it has `expired`; an expired one is dropped. */
function live<V>(map: Map<string, V>, key: string, expired: (entry: V) => boolean): V | undefined {
  const entry = map.get(key);
  if (entry === undefined || !expired(entry)) return entry;
  map.delete(key);
  return undefined;
}
