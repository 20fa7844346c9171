/**
 * The brute-force gate every password guess goes through: a login (login.ts) and the old
 * password of a password change (password-change.ts) alike, so lockout.ts protects both the
 * same way. Each caller gives its own step (the validator call) and verdict (what the answer
 * proved); the gate does the rest.
 *
 * Steps:
 *   1. reserve    one atomic store step each for the client IP's budget and then the user's
 *                 remaining failures; the attempt holds both slots until step 4 (lockout.ts)
 *   2. refuse     IP over budget → the caller's refusal at once; user locked → the refusal
 *                 after a dummy verification (the time of a wrong password); the user's
 *                 remaining attempts all still in flight after a short wait → 503
 *                 (TemporarilyUnavailableError); the validators NOT called
 *   3. step       the caller's call of the client's validator chain
 *   4. settle     a refusal → the reservation becomes one failure for the user and the IP;
 *                 proven → given back, the user's failures reset, and the caller's follow-up
 *                 (`onProven`: the password grant's token family) sent in the same write
 *                 (`oneWrite`); outage → given back
 *
 * Because step 1 reserves before step 3 runs, N concurrent guesses get at most `maxFailures`
 * (and at most the IP budget) to a validator, on one replica or many (docs/security.md).
 *
 * A directory lock never counts either (src/security/directory-locks.ts): a refusal whose state
 * is `account_locked` releases the reservation and is remembered, and while it is remembered
 * the user is refused after the dummy verification, the validators not called — the answer of
 * a wrong password, without feeding the directory's own lockout. A refusal whose password the
 * directory proved (an expired password, a must-change account) releases its reservation too
 * when its validator reveals states (the password was right, and the answer says so); under
 * `reveal: none` it counts like the wrong password it is answered as.
 *
 * Outages never count: a validator outage (ValidatorUnavailableError) releases the
 * reservation and is thrown on, and an attempt store outage (StoreUnavailableError) is thrown
 * from step 1 or 4 — both answer 503 with an `unavailable` audit event, and a guess never runs
 * without its protection (fail closed).
 */
import { TemporarilyUnavailableError } from '../oauth/errors.js';
import type { Logger } from '../observability/logger.js';
import { NO_AUDIT, type Audit, type AuditEventName, type AuditFields } from '../observability/audit.js';
import { ValidatorUnavailableError, type DirectoryState, type RefusalReason } from '../validators/types.js';
import type { ValidatorChain } from '../validators/chain.js';
import { userKey, type Attempt, type Lockout } from './lockout.js';
import { burnVerification } from './password-hash.js';
import type { DirectoryLocks } from './directory-locks.js';
import type { OneWrite } from '../tokens/redis-connection.js';

/** A lockout that began: a username locked, or a client IP out of its failure budget. */
export type LockoutEvent = 'user' | 'ip';

export interface LoginProtection {
  readonly lockout: Lockout;
  readonly logger: Logger;
  /** Receives one event per guess and one `lockout` event per lockout (docs/operations.md, "Audit events"). */
  readonly audit?: Audit;
  /** Called when a user is locked or an IP uses up its budget (e.g. a metrics counter). */
  readonly onLockout?: (event: LockoutEvent) => void;
  /**
   * The dummy verification for a locked user of `clientId`: it should cost what the client's
   * validators spend on a wrong password (app.ts passes the users file's most expensive hash
   * kind). Default: an argon2id verification ({@link burnVerification}).
   */
  readonly burn?: (clientId: string) => Promise<void>;
  /**
   * Accounts a directory reported locked (docs/security.md, "Directory locks"): refused
   * without calling the validators while remembered, and never counted as failures.
   */
  readonly directoryLocks?: DirectoryLocks;
  /**
   * Which validators reveal directory states (`validators[].reveal`). A refusal whose password
   * the directory proved is released rather than counted only for those: where the answer does
   * not tell a proven password from a wrong one, the counters must not either (an attacker
   * could otherwise find the right guess by when the lock begins).
   */
  readonly reveal?: (validator: string) => boolean;
  /**
   * Sends what its function issues in one write to the store (tokens/redis-connection.ts
   * `oneWrite`): a proven guess's settlement and the caller's `onProven` leave together.
   * Default: as is.
   */
  readonly oneWrite?: OneWrite;
}

/** The audit fields of a guess's own event, without the gate's identifying ones. */
type EventFields = Omit<AuditFields, 'event' | 'client_id' | 'client_ip' | 'username_key' | 'via' | 'request_id'>;

/** What a step's answer says about the password, as {@link GuessSpec.verdict} reads it. */
export type Verdict =
  /** The password was right: the user's failures reset; `event` is the audit event's fields. */
  | { readonly proven: true; readonly event: EventFields }
  /** A refusal, as the chain reported it: counted, or released when it proves nothing wrong. */
  | {
      readonly proven: false;
      readonly reason?: RefusalReason;
      readonly validator?: string;
      readonly state?: DirectoryState;
      readonly passwordVerified?: boolean;
    };

/** One password guess through the gate. */
export interface GuessSpec<O> {
  /** The audit event each guess writes (`login`, `password_change`). */
  readonly event: Extract<AuditEventName, 'login' | 'password_change'>;
  readonly clientId: string;
  readonly username: string;
  readonly clientIp: string;
  readonly via?: 'password_grant' | 'basic_bridge';
  readonly requestId?: string;
  /** The answer when the gate refuses before the step runs. */
  readonly refused: O;
  /** The validator call, with the NFKC-normalised username. */
  readonly step: (chain: ValidatorChain, username: string) => Promise<O>;
  readonly verdict: (outcome: O) => Verdict;
  /**
   * What follows a proven password (the password grant's token family), issued with the
   * settlement so that both reach the store in one write. Its failure fails the guess (the
   * caller answers 503); the guess's event still records the proven password.
   */
  readonly onProven?: (outcome: O) => Promise<void>;
}

/** Runs password guesses through the gate of `protection`. */
export function createPasswordGate(chainFor: (clientId: string) => ValidatorChain, protection: LoginProtection) {
  const { lockout, logger, onLockout } = protection;
  const audit = protection.audit ?? NO_AUDIT;
  const burn = protection.burn ?? (() => burnVerification());
  const oneWrite: OneWrite = protection.oneWrite ?? ((issue) => issue());

  return async function guess<O>(spec: GuessSpec<O>): Promise<O> {
    const { clientId, username, clientIp, requestId } = spec;
    // The user is named by the lockout's digest of the name, never the name itself.
    const who = {
      client_id: clientId,
      client_ip: clientIp,
      username_key: userKey(username),
      ...(spec.via ? { via: spec.via } : {}),
      ...(requestId ? { request_id: requestId } : {}),
    } as const;
    const event = (fields: EventFields): void => audit.emit({ event: spec.event, ...who, ...fields });
    let attempt: Attempt;
    try {
      attempt = await lockout.reserve(username, clientIp);
    } catch (err) {
      event({ outcome: 'unavailable', reason: 'store_unavailable' });
      throw err;
    }
    if (!attempt.admitted) {
      if (attempt.reason === 'ip-blocked') {
        // Every guess from this IP is refused whoever the user is, so the answer's time tells
        // nothing about a user: do not spend a verification on an attacker's flood.
        logger.debug(
          { event: 'login_refused', reason: attempt.reason, clientIp, clientId },
          'login refused: the client IP is over its failure budget',
        );
        event({ outcome: 'refused', reason: 'ip_blocked' });
        return spec.refused;
      }
      if (attempt.reason === 'user-busy') {
        // Not a refusal of the credentials: the user's remaining attempts stayed in flight
        // while this one waited (a slow directory). Ask the client to retry.
        logger.debug(
          { event: 'login_refused', reason: attempt.reason, userKey: userKey(username), clientIp, clientId },
          'login refused: the user has as many logins in flight as failures left',
        );
        event({ outcome: 'refused', reason: 'user_busy' });
        throw new TemporarilyUnavailableError('too many logins of this user in progress, retry shortly', 1);
      }
      reportIpBudget(attempt.ipFailures);
      await burn(clientId);
      logger.debug(
        { event: 'login_refused', reason: attempt.reason, userKey: userKey(username), clientIp, clientId },
        'login refused: the user is locked',
      );
      event({ outcome: 'refused', reason: 'locked' });
      return spec.refused;
    }

    const chain = chainFor(clientId);
    const lockKey = `${chain.names.join('\n')}\0${userKey(username)}`;
    if (protection.directoryLocks?.has(lockKey)) {
      await attempt.settle('released').catch(() => undefined);
      await burn(clientId);
      logger.debug(
        { event: 'login_refused', reason: 'directory-locked', userKey: userKey(username), clientIp, clientId },
        'login refused: the directory reported the account locked',
      );
      event({ outcome: 'refused', reason: 'directory_locked', state: 'account_locked' });
      return spec.refused;
    }

    let outcome: O;
    try {
      outcome = await spec.step(chain, username.normalize('NFKC'));
    } catch (err) {
      // An outage judged nothing: give the slots back (they lapse anyway if the store is down too).
      await attempt.settle('released').catch(() => undefined);
      event({ outcome: 'unavailable', reason: err instanceof ValidatorUnavailableError ? 'validator_unavailable' : 'store_unavailable' });
      throw err;
    }
    const verdict = spec.verdict(outcome);
    if (verdict.proven) {
      // Both are sent before either is awaited: on one Redis node, one write and one round
      // trip. Should the settlement fail, a family made alongside is never handed out (it
      // lapses with its TTL).
      const [settling, following] = oneWrite(() => [settled(attempt.settle('success')), follow(spec, outcome)] as const);
      const [settlement, followUp] = await Promise.allSettled([settling, following]);
      if (settlement.status === 'rejected') throw settlement.reason;
      event(verdict.event);
      if (followUp.status === 'rejected') throw followUp.reason;
      return outcome;
    }
    const stateFields = {
      ...(verdict.validator ? { validator: verdict.validator } : {}),
      ...(verdict.state ? { state: verdict.state, password_verified: verdict.passwordVerified === true } : {}),
    };
    const proven =
      verdict.passwordVerified === true && verdict.validator !== undefined && (protection.reveal?.(verdict.validator) ?? false);
    if (verdict.state === 'account_locked' || proven) {
      // Not a failure of the gateway's counting: the directory's lock, or a right password.
      await settled(attempt.settle('released'));
      if (verdict.state === 'account_locked') protection.directoryLocks?.add(lockKey);
      event({ outcome: 'failure', reason: verdict.state === 'account_locked' ? 'directory_locked' : 'directory_state', ...stateFields });
      return outcome;
    }
    const counted = await settled(attempt.settle('failure'));
    event({ outcome: 'failure', reason: verdict.reason === 'unknown-user' ? 'unknown_user' : 'invalid_password', ...stateFields });
    if (counted.userLockedMs > 0) {
      onLockout?.('user');
      // The username is logged as its counter key: a password typed into the username field
      // must not reach the log.
      logger.warn(
        { event: 'user_locked', userKey: userKey(username), lockSeconds: Math.round(counted.userLockedMs / 1000), clientIp, clientId },
        'too many failed logins: the user is locked',
      );
      audit.emit({
        event: 'lockout',
        outcome: 'success',
        scope: 'user',
        reason: 'failures',
        lock_seconds: Math.round(counted.userLockedMs / 1000),
        ...who,
      });
    }
    reportIpBudget(counted.ipFailures);
    return outcome;

    /** A store outage while settling: the guess's answer is a 503, and its event says so. */
    async function settled<T>(step: Promise<T>): Promise<T> {
      try {
        return await step;
      } catch (err) {
        event({ outcome: 'unavailable', reason: 'store_unavailable' });
        throw err;
      }
    }

    function reportIpBudget(ipFailures: number): void {
      if (ipFailures !== lockout.ipBudget) return;
      onLockout?.('ip');
      logger.warn(
        { event: 'ip_blocked', clientIp, clientId },
        'too many failed logins from this client IP: its logins are refused for the rest of the minute',
      );
      audit.emit({
        event: 'lockout',
        outcome: 'success',
        scope: 'ip',
        reason: 'failures',
        client_ip: clientIp,
        client_id: clientId,
        ...(requestId ? { request_id: requestId } : {}),
      });
    }
  };
}

/** The spec's `onProven`, a synchronous throw as a rejection (so the settlement is still awaited). */
function follow<O>(spec: GuessSpec<O>, outcome: O): Promise<void> | undefined {
  try {
    return spec.onProven?.(outcome);
  } catch (err) {
    return Promise.reject(err);
  }
}
