/**
 * Brute-force protection (DESIGN §3), PingFederate/Keycloak style, shared by every replica
 * through an {@link AttemptStore}:
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
 * Keys are SHA-256 digests, so a counter has a bounded size whatever a client sends and the
 * store holds no usernames.
 */
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { GatewayConfig } from '../config/types.js';
import type { AttemptStore, LockPolicy, UserState } from './attempt-store.js';
import { canonicalUsername } from './canonical-username.js';

export type LockoutSettings = GatewayConfig['lockout'];

/** Whether a login may go to the validators. */
export type Gate =
  | { readonly open: true; readonly recorded: boolean }
  | { readonly open: false; readonly reason: 'user-locked' | 'ip-blocked' };

/** What a counted failure led to. */
export interface FailureOutcome {
  /** The user lock this failure began, ms; 0 when it did not lock. */
  readonly userLockedMs: number;
  /** Failures of the client IP in its window, this one included. */
  readonly ipFailures: number;
}

const IP_WINDOW_MS = 60_000;

/** The counter key of a username: SHA-256 of its canonical form (case-insensitive). */
export function userKey(username: string): string {
  return digest(`user\0${canonicalUsername(username, false)}`);
}

/** The counter key of a client IP: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function ipKey(ip: string): string {
  return digest(`ip\0${ipBucket(ip)}`);
}

/** The address an IP is counted under (exported for tests). */
export function ipBucket(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  if (!isIPv6(ip)) return ip;
  return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`;
}

export class Lockout {
  readonly #policy: LockPolicy;

  constructor(
    private readonly store: AttemptStore,
    private readonly settings: LockoutSettings,
  ) {
    this.#policy = {
      maxFailures: settings.maxFailures,
      lockMs: settings.lockSeconds * 1000,
      maxLockMs: settings.maxLockSeconds * 1000,
      resetMs: settings.failureResetSeconds * 1000,
    };
  }

  /** Checks the IP budget and the user's lock (one store round trip each, in parallel). */
  async check(username: string, ip: string): Promise<Gate> {
    const [ipFailures, user] = await Promise.all([this.store.ipFailures(ipKey(ip)), this.store.userState(userKey(username))]);
    if (ipFailures >= this.settings.ipMaxFailuresPerMinute) return { open: false, reason: 'ip-blocked' };
    if (user.lockedMs > 0) return { open: false, reason: 'user-locked' };
    return { open: true, recorded: user.recorded };
  }

  /** Counts a failed login (a `{valid:false}` answer) for the user and the IP. */
  async failure(username: string, ip: string): Promise<FailureOutcome> {
    const [userLockedMs, ipFailures] = await Promise.all([this.store.userFailure(userKey(username), this.#policy), this.ipFailure(ip)]);
    return { userLockedMs, ipFailures };
  }

  /** Failures an IP may have in its window; at this count its logins are refused. */
  get ipBudget(): number {
    return this.settings.ipMaxFailuresPerMinute;
  }

  /** Counts a refused attempt on a locked user against the IP only (the lock is not extended). */
  async ipFailure(ip: string): Promise<number> {
    return this.store.ipFailure(ipKey(ip), IP_WINDOW_MS);
  }

  /** A successful login resets the user's failures and lock level. */
  async success(username: string): Promise<void> {
    await this.store.userSuccess(userKey(username));
  }

  /** The user's lock state, for `ropc-gateway lockout status` (any spelling of the name). */
  async status(username: string): Promise<UserState> {
    return this.store.userState(userKey(username));
  }

  /** Ends a lock and forgets the failures and lock level, as a success would (`ropc-gateway unlock`). */
  async unlock(username: string): Promise<void> {
    await this.store.userSuccess(userKey(username));
  }
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** The eight 16-bit groups of a valid IPv6 address, lower-case, without leading zeros. */
function expandIPv6(ip: string): string[] {
  const address = ip.split('%', 1)[0] ?? ip;
  const [head = '', tail] = address.split('::', 2) as [string, string | undefined];
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? v4Groups(g) : [g])));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => parseInt(g, 16).toString(16));
}

/** An embedded dotted IPv4 tail as two 16-bit groups. */
function v4Groups(v4: string): string[] {
  const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
