/**
 * Changing a password through the same brute-force gate as a login (password-gate.ts): the old
 * password is a password guess like any other, so it reserves a slot of the user's failures
 * and of the client IP's budget first, a locked user is refused after the dummy verification
 * without calling the validators, a remembered directory lock likewise, and a wrong old password
 * (or an unknown user) settles as one failure. A change, or a new password the policy refused,
 * proved the old password: a success for the counters. A directory lock, and a proven password
 * refused for its state by a validator that reveals states, are released, as for a login.
 *
 * Neither password is ever logged or put in an audit event.
 */
import type { ChainChangeOutcome, ValidatorChain } from '../validators/chain.js';
import { createPasswordGate, type LoginProtection, type Verdict } from './password-gate.js';

export type PasswordChange = (
  clientId: string,
  username: string,
  oldPassword: string,
  newPassword: string,
  clientIp: string,
  requestId?: string,
) => Promise<ChainChangeOutcome>;

const REFUSED: ChainChangeOutcome = Object.freeze({ changed: false, refused: Object.freeze({ valid: false, reason: 'invalid-password' }) });

export function createPasswordChange(chainFor: (clientId: string) => ValidatorChain, protection: LoginProtection): PasswordChange {
  const guess = createPasswordGate(chainFor, protection);
  return (clientId, username, oldPassword, newPassword, clientIp, requestId) =>
    guess<ChainChangeOutcome>({
      event: 'password_change',
      clientId,
      username,
      clientIp,
      ...(requestId ? { requestId } : {}),
      refused: REFUSED,
      step: (chain, name) => chain.changePassword(name, oldPassword, newPassword),
      verdict,
    });
}

/** A change, or a new password the policy refused, proved the old password. */
function verdict(outcome: ChainChangeOutcome): Verdict {
  const validator = outcome.validator ? { validator: outcome.validator } : {};
  if (outcome.changed) return { proven: true, event: { outcome: 'success', ...validator } };
  if ('policy' in outcome)
    return { proven: true, event: { outcome: 'failure', reason: 'password_policy', policy: outcome.policy, ...validator } };
  const { refused } = outcome;
  return {
    proven: false,
    ...(refused.reason ? { reason: refused.reason } : {}),
    ...validator,
    ...(refused.state ? { state: refused.state } : {}),
    ...(refused.passwordVerified !== undefined ? { passwordVerified: refused.passwordVerified } : {}),
  };
}
