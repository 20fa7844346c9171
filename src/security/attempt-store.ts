/**
 * Counters of failed logins (brute-force protection, docs/security.md), shared by every replica
 * through the token store's backend: one small interface, a memory and a Redis implementation
 * (attempt-store-memory.ts, attempt-store-redis.ts), one contract suite.
 *
 * Keys are opaque strings chosen by the caller (lockout.ts hashes the canonical username and
 * the client IP); the store only counts.
 *
 * **Reserve, then settle.** An attempt is *reserved* before the validator is called, and the
 * check and the reservation are one atomic step: a reservation is granted only while the
 * failures counted so far plus the reservations still in flight stay below the limit. So N
 * concurrent guesses — on one replica or on many sharing the store — can never get more than
 * the limit past the check: there is no window between "check" and "count" to race through.
 * A reservation is then settled exactly once: as a failure (it becomes a counted failure), as
 * a success (for a user: forgets the failures), or released (a validator outage: nothing is
 * counted). A reservation that is never settled (its replica died) lapses after `ttlMs`.
 *
 * A user and an IP are reserved by two operations, each atomic for its own keys, because the
 * keys of a user and of an IP may live in different Redis Cluster slots (no script may touch
 * both). lockout.ts reserves the IP first and then the user, and settles the IP reservation
 * when the user refuses; see there.
 *
 * A store whose backend is unreachable THROWS StoreUnavailableError: the login then answers
 * 503 (fail closed) rather than running without protection.
 */

/** How failures of one user turn into locks. All durations in ms. */
export interface LockPolicy {
  /** Consecutive failures that lock the user (`lockout.maxFailures`). */
  readonly maxFailures: number;
  /** First lock duration; each further lock doubles it (`lockout.lockSeconds`). */
  readonly lockMs: number;
  /** Longest lock (`lockout.maxLockSeconds`). */
  readonly maxLockMs: number;
  /** Failures and the doubling level are forgotten this long after the last failure or lock end (`lockout.failureResetSeconds`). */
  readonly resetMs: number;
  /** An unsettled reservation lapses after this long (`lockout.reservationSeconds`). */
  readonly ttlMs: number;
}

/** The failure budget of a client IP. All durations in ms. */
export interface IpPolicy {
  /** Failures (plus reservations in flight) allowed in one window (`lockout.ipMaxFailuresPerMinute`). */
  readonly budget: number;
  /** A window starts with the first failure and lasts this long. */
  readonly windowMs: number;
  /** An unsettled reservation lapses after this long (`lockout.reservationSeconds`). */
  readonly ttlMs: number;
}

export interface UserState {
  /** Remaining lock, ms; 0 when not locked. */
  readonly lockedMs: number;
  /** Whether failures or a lock level are recorded (a success then has something to reset). */
  readonly recorded: boolean;
}

/**
 * The answer to a user reservation: `reserved`; `locked` (a lock runs); or `busy` — the
 * failures counted plus the attempts in flight already reach `maxFailures`, so this attempt
 * could be one past the limit whatever the others' outcomes.
 */
export type UserReservation = 'reserved' | 'locked' | 'busy';

/**
 * The answer to an IP reservation: `reserved`; `blocked` — its failures alone reach the
 * budget; or `busy` — they do not, but with the attempts in flight they do.
 */
export type IpReservation = 'reserved' | 'blocked' | 'busy';

/** How a reserved attempt ended. `released`: it was not judged (an outage); nothing is counted. */
export type AttemptResult = 'success' | 'failure' | 'released';

export interface AttemptStore {
  /** The lock state of a user. */
  userState(user: string): Promise<UserState>;
  /**
   * Atomically: unless `user` is locked or its failures plus its reservations in flight reach
   * `policy.maxFailures`, records reservation `id` for it.
   */
  reserveUser(user: string, id: string, policy: LockPolicy): Promise<UserReservation>;
  /**
   * Settles reservation `id` of `user` (an unknown or lapsed id is settled all the same).
   * `failure` counts one failure: the `maxFailures`-th consecutive one locks the user for
   * `lockMs × 2^(n−1)` (n = how many times it was locked before, plus one), at most
   * `maxLockMs`, and starts a new count; a failure while locked is not counted. `success`
   * forgets the user's failures and lock level (and ends a lock). `released` counts nothing.
   * @returns the duration of the lock this failure began, ms; 0 when it did not lock.
   */
  settleUser(user: string, id: string, result: AttemptResult, policy: LockPolicy): Promise<number>;
  /** Failures counted for `ip` in its current window. */
  ipFailures(ip: string): Promise<number>;
  /**
   * Atomically: unless the failures of `ip` in its window plus its reservations in flight
   * reach `policy.budget`, records reservation `id` for it.
   */
  reserveIp(ip: string, id: string, policy: IpPolicy): Promise<IpReservation>;
  /**
   * Settles reservation `id` of `ip`; `failure` counts one failure in the window (a window
   * starts with the first failure and lasts `windowMs`; the count starts again after it).
   * @returns the count in the current window, this failure included; 0 unless a failure.
   */
  settleIp(ip: string, id: string, result: AttemptResult, policy: IpPolicy): Promise<number>;
  /**
   * {@link reserveIp}, then — only when the IP's reservation was made — {@link reserveUser},
   * as one atomic step (one round trip). Absent where the two cannot share one (Redis
   * Cluster: a user and an IP are in different slots); lockout.ts then makes the two calls.
   */
  readonly reserveIpAndUser?:
    | ((
        ip: string,
        ipId: string,
        ipPolicy: IpPolicy,
        user: string,
        id: string,
        policy: LockPolicy,
      ) => Promise<{ ip: IpReservation; user: UserReservation | undefined }>)
    | undefined;
  /**
   * {@link settleIp} and {@link settleUser} of one attempt as one atomic step (one round trip);
   * absent where {@link reserveIpAndUser} is.
   */
  readonly settleIpAndUser?:
    | ((
        ip: string,
        ipId: string,
        result: AttemptResult,
        ipPolicy: IpPolicy,
        user: string,
        id: string,
        policy: LockPolicy,
      ) => Promise<{ ipFailures: number; userLockedMs: number }>)
    | undefined;
  close(): Promise<void>;
}
