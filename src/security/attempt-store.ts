/**
 * Counters of failed logins (DESIGN §3 brute-force protection), shared by every replica through
 * the token store's backend: one small interface, a memory and a Redis implementation
 * (attempt-store-memory.ts, attempt-store-redis.ts), one contract suite.
 *
 * Keys are opaque strings chosen by the caller (lockout.ts hashes the canonical username and
 * the client IP); the store only counts. Every operation that changes a counter is atomic, so
 * replicas counting the same user at the same time never lose a failure.
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
}

export interface UserState {
  /** Remaining lock, ms; 0 when not locked. */
  readonly lockedMs: number;
  /** Whether failures or a lock level are recorded (a success then has something to reset). */
  readonly recorded: boolean;
}

export interface AttemptStore {
  /** The lock state of a user. */
  userState(user: string): Promise<UserState>;
  /**
   * Counts one failed login of `user`. The `maxFailures`-th consecutive failure locks the user
   * for `lockMs × 2^(n−1)` (n = how many times it was locked before, plus one), at most
   * `maxLockMs`, and starts a new count. A failure while locked is not counted (it was
   * already in flight when the lock began).
   * @returns the duration of the lock this failure began, ms; 0 when it did not lock.
   */
  userFailure(user: string, policy: LockPolicy): Promise<number>;
  /** A successful login: forgets the user's failures and lock level (and ends a lock). */
  userSuccess(user: string): Promise<void>;
  /** Failures counted for `ip` in its current window. */
  ipFailures(ip: string): Promise<number>;
  /**
   * Counts one failure from `ip`. A window starts with the first failure and lasts `windowMs`;
   * the count starts again after it.
   * @returns the count in the current window, this failure included.
   */
  ipFailure(ip: string, windowMs: number): Promise<number>;
  close(): Promise<void>;
}
