/**
 * Brute-force protection (docs/security.md), PingFederate/Keycloak style, shared by every
 * replica through an {@link AttemptStore}:
 *
 * - per username: `lockout.maxFailures` consecutive failures lock it for `lockout.lockSeconds`,
 *   doubling with each further lock up to `lockout.maxLockSeconds`; a success resets the count
 *   and the doubling; both are forgotten `lockout.failureResetSeconds` after the last failure.
 *   The counter is keyed by the canonical username (NFKC, then lower-case, whatever the
 *   validator's case rule), so no spelling of a name gets a counter of its own;
 * - per client IP: at most `lockout.ipMaxFailuresPerMinute` failures in a window of one minute
 *   that starts with the first failure; then every login from that IP is refused until the
 *   window ends. IPv6 clients are counted per /64 (one subscriber's usual allocation).
 *
 * Race-free by reservation (attempt-store.ts): an attempt takes a slot in the IP's budget and
 * then in the user's before the validators see it, each in one atomic store step, and the slot
 * becomes the counted failure, is given back on success, or is released on an outage. So at
 * most `maxFailures` guesses for one user, and at most the budget from one IP, ever reach a
 * validator however many arrive at once, on however many replicas.
 *
 * Why two steps and not one: the keys of a user and of an IP hash to different Redis Cluster
 * slots, and a script may only touch one slot. The IP goes first, so a flood from an IP over
 * budget never touches (or holds) a user's slots; when the user then refuses as locked the IP
 * reservation is settled as a failure (an attempt on a locked user counts against the IP, as
 * before), when it stays busy it is released, and when the user step fails
 * (store outage) the IP reservation is released. Between the two steps the IP slot is held, so
 * an interleaving can only over-refuse, never admit one too many.
 *
 * Keys are SHA-256 digests, so a counter has a bounded size whatever a client sends and the
 * store holds no usernames.
 */
import { hash } from 'node:crypto';
import { randomBase64url } from '../tokens/token-value.js';
import { ipBucket } from '../ip-address.js';
import type { GatewayConfig } from '../config/types.js';
import type { AttemptResult, AttemptStore, IpPolicy, IpReservation, LockPolicy, UserReservation, UserState } from './attempt-store.js';
import { TemporarilyUnavailableError } from '../oauth/errors.js';
import { lockoutUsername } from './canonical-username.js';

/** The counters' settings; `directoryLockSeconds` belongs to the directory-lock memo (src/security/directory-locks.ts). */
export type LockoutSettings = Omit<GatewayConfig['lockout'], 'directoryLockSeconds'>;

/** What a settled failure led to. */
export interface FailureOutcome {
  /** The user lock this failure began, ms; 0 when it did not lock. */
  readonly userLockedMs: number;
  /** Failures of the client IP in its window, this one included (0 when not a failure). */
  readonly ipFailures: number;
}

/** A login that got past the gate: its reservations are held until {@link settle} (exactly once). */
export interface AdmittedAttempt {
  readonly admitted: true;
  /**
   * `failure`: the reservations become one counted failure of the user and of the IP;
   * `success`: they are given back and the user's failures forgotten; `released`: given back,
   * nothing counted (a validator outage).
   */
  settle(result: AttemptResult): Promise<FailureOutcome>;
}

/**
 * A login refused before any validator: `ip-blocked` (nothing counted); `user-locked` (counted
 * against the IP); `user-busy` — the user's remaining attempts stayed in flight for as long as
 * it waited (nothing counted: nothing failed).
 */
export interface RefusedAttempt {
  readonly admitted: false;
  readonly reason: 'ip-blocked' | 'user-locked' | 'user-busy';
  /** Failures of the IP in its window after this refusal (0 for `ip-blocked`). */
  readonly ipFailures: number;
}

export type Attempt = AdmittedAttempt | RefusedAttempt;

/** An IP-only reservation (client authentication at the token endpoint). */
export interface IpAttempt {
  /** As {@link AdmittedAttempt.settle}, for the IP alone. @returns the IP's failures (0 unless a failure). */
  settle(result: AttemptResult): Promise<number>;
}

const IP_WINDOW_MS = 60_000;
/** Waits before asking again for a busy user's slot (about 1.5 s in all); then the attempt answers 503. */
const BUSY_RETRY_MS = [25, 50, ...Array<number>(14).fill(100)] as const;

/**
 * The counter key of a username: SHA-256 of its canonical form (case-insensitive; an Active
 * Directory login without its domain, see lockoutUsername).
 */
export function userKey(username: string): string {
  return digest(`user\0${lockoutUsername(username)}`);
}

/** The counter key of a client IP: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function ipKey(ip: string): string {
  return digest(`ip\0${ipBucket(ip)}`);
}

export class Lockout {
  readonly #policy: LockPolicy;
  readonly #ipPolicy: IpPolicy;

  constructor(
    private readonly store: AttemptStore,
    private readonly settings: LockoutSettings,
  ) {
    const ttlMs = settings.reservationSeconds * 1000;
    this.#policy = {
      maxFailures: settings.maxFailures,
      lockMs: settings.lockSeconds * 1000,
      maxLockMs: settings.maxLockSeconds * 1000,
      resetMs: settings.failureResetSeconds * 1000,
      ttlMs,
    };
    this.#ipPolicy = { budget: settings.ipMaxFailuresPerMinute, windowMs: IP_WINDOW_MS, ttlMs };
  }

  /**
   * Reserves an attempt of `username` from `ip`: the IP first, then the user (see above) — in
   * one step when the store can (attempt-store.ts `reserveIpAndUser`).
   */
  async reserve(username: string, ip: string): Promise<Attempt> {
    const user = userKey(username);
    const id = reservationId();
    let ipAttempt: IpAttempt | undefined;
    let first: Promise<UserReservation> | undefined;
    /** The IP's reservation, when it was made with the user's in one step (and so can be settled with it). */
    let together: { readonly key: string; readonly ipId: string } | undefined;
    if (this.store.reserveIpAndUser) {
      const key = ipKey(ip);
      const ipId = reservationId();
      const both = await this.store.reserveIpAndUser(key, ipId, this.#ipPolicy, user, id, this.#policy);
      ipAttempt = this.#ipAttempt(both.ip, key, ipId);
      if (ipAttempt && both.user !== undefined) first = Promise.resolve(both.user);
      together = { key, ipId };
    } else {
      ipAttempt = await this.reserveIp(ip);
    }
    if (!ipAttempt) return { admitted: false, reason: 'ip-blocked', ipFailures: 0 };
    let reserved: UserReservation;
    try {
      reserved = await (first ?? this.store.reserveUser(user, id, this.#policy));
      // Busy: the user's remaining attempts are all in flight. Wait for them to settle rather
      // than refuse at once — one user's legitimate parallel logins (a service account's
      // workers) then all get through as the first succeed and reset the count — while a
      // burst of guesses sees the lock its first failures began and is refused.
      for (const delay of BUSY_RETRY_MS) {
        if (reserved !== 'busy') break;
        await new Promise((resolve) => setTimeout(resolve, delay));
        reserved = await this.store.reserveUser(user, id, this.#policy);
      }
    } catch (err) {
      // The user step did not happen; give the IP slot back (it lapses anyway if this fails too).
      await ipAttempt.settle('released').catch(() => undefined);
      throw err;
    }
    if (reserved === 'busy') {
      // Nothing failed: the attempt only found no free slot. Give the IP slot back.
      await ipAttempt.settle('released');
      return { admitted: false, reason: 'user-busy', ipFailures: 0 };
    }
    if (reserved === 'locked') return { admitted: false, reason: 'user-locked', ipFailures: await ipAttempt.settle('failure') };
    const store = this.store;
    const policy = this.#policy;
    const ipPolicy = this.#ipPolicy;
    const settleTogether = store.settleIpAndUser;
    return {
      admitted: true,
      async settle(result) {
        if (together && settleTogether) return settleTogether(together.key, together.ipId, result, ipPolicy, user, id, policy);
        const [userLockedMs, ipFailures] = await Promise.all([store.settleUser(user, id, result, policy), ipAttempt.settle(result)]);
        return { userLockedMs, ipFailures };
      },
    };
  }

  /**
   * Reserves one attempt in the IP's budget alone; undefined when its failures use up the
   * budget.
   * @throws TemporarilyUnavailableError when only the attempts in flight fill the budget: they
   *   may all succeed, so this one is not refused as a failure but asked to retry (503).
   */
  async reserveIp(ip: string): Promise<IpAttempt | undefined> {
    const key = ipKey(ip);
    const id = reservationId();
    return this.#ipAttempt(await this.store.reserveIp(key, id, this.#ipPolicy), key, id);
  }

  /** The IP's reservation `id` as an attempt to settle; undefined when blocked. */
  #ipAttempt(reserved: IpReservation, key: string, id: string): IpAttempt | undefined {
    if (reserved === 'blocked') return undefined;
    if (reserved === 'busy') throw new TemporarilyUnavailableError('too many logins from this address in progress, retry shortly', 1);
    const store = this.store;
    const policy = this.#ipPolicy;
    return { settle: (result) => store.settleIp(key, id, result, policy) };
  }

  /** Failures an IP may have in its window; at this count its logins are refused. */
  get ipBudget(): number {
    return this.settings.ipMaxFailuresPerMinute;
  }

  /** The user's lock state, for `ropc-gateway lockout status` (any spelling of the name). */
  async status(username: string): Promise<UserState> {
    return this.store.userState(userKey(username));
  }

  /** Ends a lock and forgets the failures and lock level, as a success would (`ropc-gateway unlock`). */
  async unlock(username: string): Promise<void> {
    await this.store.settleUser(userKey(username), reservationId(), 'success', this.#policy);
  }
}

/** A reservation's id: random, so two replicas never settle each other's. */
function reservationId(): string {
  return randomBase64url(12);
}

function digest(value: string): string {
  return hash('sha256', value, 'base64url');
}
