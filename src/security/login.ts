/**
 * Checking a user's password for a client: the one place every password login goes through —
 * the password grant and the Basic bridge on the resource path — so brute-force protection
 * (lockout.ts) applies to both alike.
 *
 * Steps:
 *   1. gate       the client IP's failure budget and the user's lock (one read each, in parallel)
 *   2. refuse     IP over budget → `{valid:false}` at once; user locked → `{valid:false}` after a
 *                 dummy verification (the time of a wrong password), the validators NOT called
 *   3. validate   the client's validator chain
 *   4. count      `{valid:false}` → one failure for the user and the IP; valid → reset the user
 *
 * Outages never count: a validator outage (ValidatorUnavailableError) is thrown on before
 * step 4, and an attempt store outage (StoreUnavailableError) is thrown from step 1 or 4 —
 * both answer 503, and a login never runs without its protection (fail closed).
 */
import type { Logger } from '../observability/logger.js';
import type { ChainOutcome, ValidatorChain } from '../validators/chain.js';
import type { Lockout } from './lockout.js';
import { userKey } from './lockout.js';
import { burnVerification } from './password-hash.js';

/**
 * Validates `username`/`password` with the client's validator chain. Resolves `{valid:false}`
 * for every kind of refusal (wrong password, unknown user, locked user, IP over budget);
 * throws ValidatorUnavailableError (or StoreUnavailableError) on an outage, which never counts
 * as a failed login.
 */
export type PasswordLogin = (clientId: string, username: string, password: string, clientIp: string) => Promise<ChainOutcome>;

/** A lockout that began: a username locked, or a client IP out of its failure budget. */
export type LockoutEvent = 'user' | 'ip';

export interface LoginProtection {
  readonly lockout: Lockout;
  readonly logger: Logger;
  /** Called when a user is locked or an IP uses up its budget (e.g. a metrics counter). */
  readonly onLockout?: (event: LockoutEvent) => void;
}

const REFUSED: ChainOutcome = Object.freeze({ valid: false });

/**
 * The login function of the gateway. Without `protection` (unit tests of other parts) it only
 * runs the chain.
 */
export function createPasswordLogin(chainFor: (clientId: string) => ValidatorChain, protection: LoginProtection): PasswordLogin {
  const { lockout, logger, onLockout } = protection;

  return async function login(clientId, username, password, clientIp) {
    const gate = await lockout.check(username, clientIp);
    if (!gate.open) {
      if (gate.reason === 'ip-blocked') {
        // Every login from this IP is refused whoever the user is, so the answer's time tells
        // nothing about a user: do not spend a verification on an attacker's flood.
        logger.debug({ event: 'login_refused', reason: gate.reason, clientIp, clientId }, 'login refused: the client IP is over its failure budget');
        return REFUSED;
      }
      await burnVerification();
      const ipFailures = await lockout.ipFailure(clientIp);
      logger.debug({ event: 'login_refused', reason: gate.reason, userKey: userKey(username), clientIp, clientId }, 'login refused: the user is locked');
      reportIpBudget(ipFailures);
      return REFUSED;
    }

    const outcome = await chainFor(clientId).validate(username.normalize('NFKC'), password);
    if (outcome.valid) {
      if (gate.recorded) await lockout.success(username);
      return outcome;
    }
    const counted = await lockout.failure(username, clientIp);
    if (counted.userLockedMs > 0) {
      onLockout?.('user');
      // The username is logged as its counter key: a password typed into the username field
      // must not reach the log.
      logger.warn(
        { event: 'user_locked', userKey: userKey(username), lockSeconds: Math.round(counted.userLockedMs / 1000), clientIp, clientId },
        'too many failed logins: the user is locked',
      );
    }
    reportIpBudget(counted.ipFailures);
    return outcome;

    function reportIpBudget(ipFailures: number): void {
      if (ipFailures !== lockout.ipBudget) return;
      onLockout?.('ip');
      logger.warn({ event: 'ip_blocked', clientIp, clientId }, 'too many failed logins from this client IP: its logins are refused for the rest of the minute');
    }
  };
}
