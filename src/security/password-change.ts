/**
 * Changing a password through the same brute-force protection as a login (login.ts): the old
 * password is a password guess like any other, so it reserves a slot of the user's failures
 * and of the client IP's budget first, a locked user is refused after the dummy verification
 * without calling the validators, a remembered directory lock likewise, and a wrong old password
 * (or an unknown user) settles as one failure. A change, or a new password the policy refused,
 * proved the old password: a success for the counters. A directory lock, and a proven password
 * refused for its state by a validator that reveals states, are released, as for a login.
 *
 * Neither password is ever logged or put in an audit event.
 */
import { TemporarilyUnavailableError } from '../oauth/errors.js';
import { NO_AUDIT, type AuditFields } from '../observability/audit.js';
import type { ChainChangeOutcome, ValidatorChain } from '../validators/chain.js';
import { ValidatorUnavailableError } from '../validators/types.js';
import type { LoginProtection } from './login.js';
import { userKey } from './lockout.js';
import { burnVerification } from './password-hash.js';

export type PasswordChange = (clientId: string, username: string, oldPassword: string, newPassword: string, clientIp: string, requestId?: string) => Promise<ChainChangeOutcome>;

const REFUSED: ChainChangeOutcome = Object.freeze({ changed: false, refused: Object.freeze({ valid: false, reason: 'invalid-password' }) });

export function createPasswordChange(chainFor: (clientId: string) => ValidatorChain, protection: LoginProtection): PasswordChange {
  const { lockout, logger, onLockout } = protection;
  const audit = protection.audit ?? NO_AUDIT;
  const burn = protection.burn ?? (() => burnVerification());

  return async function changePassword(clientId, username, oldPassword, newPassword, clientIp, requestId) {
    const who = { client_id: clientId, client_ip: clientIp, username_key: userKey(username), ...(requestId ? { request_id: requestId } : {}) } as const;
    const event = (fields: Omit<AuditFields, 'event' | keyof typeof who>): void => audit.emit({ event: 'password_change', ...who, ...fields });
    let attempt;
    try {
      attempt = await lockout.reserve(username, clientIp);
    } catch (err) {
      event({ outcome: 'unavailable', reason: 'store_unavailable' });
      throw err;
    }
    if (!attempt.admitted) {
      if (attempt.reason === 'ip-blocked') {
        event({ outcome: 'refused', reason: 'ip_blocked' });
        return REFUSED;
      }
      if (attempt.reason === 'user-busy') {
        event({ outcome: 'refused', reason: 'user_busy' });
        throw new TemporarilyUnavailableError('too many logins of this user in progress, retry shortly', 1);
      }
      await burn(clientId);
      event({ outcome: 'refused', reason: 'locked' });
      return REFUSED;
    }
    const chain = chainFor(clientId);
    const lockKey = `${chain.names.join('\n')}\0${userKey(username)}`;
    if (protection.directoryLocks?.has(lockKey)) {
      await attempt.settle('released').catch(() => undefined);
      await burn(clientId);
      event({ outcome: 'refused', reason: 'directory_locked', state: 'account_locked' });
      return REFUSED;
    }

    let outcome: ChainChangeOutcome;
    try {
      outcome = await chain.changePassword(username.normalize('NFKC'), oldPassword, newPassword);
    } catch (err) {
      await attempt.settle('released').catch(() => undefined);
      event({ outcome: 'unavailable', reason: err instanceof ValidatorUnavailableError ? 'validator_unavailable' : 'store_unavailable' });
      throw err;
    }
    const validator = outcome.validator ? { validator: outcome.validator } : {};
    if (outcome.changed) {
      await attempt.settle('success');
      event({ outcome: 'success', ...validator });
      return outcome;
    }
    if ('policy' in outcome) {
      await attempt.settle('success');
      event({ outcome: 'failure', reason: 'password_policy', policy: outcome.policy, ...validator });
      return outcome;
    }
    const { refused } = outcome;
    const stateFields = refused.state ? { state: refused.state, password_verified: refused.passwordVerified === true } : {};
    const proven = refused.passwordVerified === true && outcome.validator !== undefined && (protection.reveal?.(outcome.validator) ?? false);
    if (refused.state === 'account_locked' || proven) {
      await attempt.settle('released');
      if (refused.state === 'account_locked') protection.directoryLocks?.add(lockKey);
      event({ outcome: 'failure', reason: refused.state === 'account_locked' ? 'directory_locked' : 'directory_state', ...stateFields, ...validator });
      return outcome;
    }
    const counted = await attempt.settle('failure');
    event({ outcome: 'failure', reason: refused.reason === 'unknown-user' ? 'unknown_user' : 'invalid_password', ...validator });
    if (counted.userLockedMs > 0) {
      onLockout?.('user');
      logger.warn({ event: 'user_locked', userKey: userKey(username), lockSeconds: Math.round(counted.userLockedMs / 1000), clientIp, clientId }, 'too many failed logins: the user is locked');
      audit.emit({ event: 'lockout', outcome: 'success', scope: 'user', reason: 'failures', lock_seconds: Math.round(counted.userLockedMs / 1000), ...who });
    }
    if (counted.ipFailures === lockout.ipBudget) {
      onLockout?.('ip');
      logger.warn({ event: 'ip_blocked', clientIp, clientId }, 'too many failed logins from this client IP: its logins are refused for the rest of the minute');
      audit.emit({ event: 'lockout', outcome: 'success', scope: 'ip', reason: 'failures', client_ip: clientIp, client_id: clientId, ...(requestId ? { request_id: requestId } : {}) });
    }
    return outcome;
  };
}
