/**
 * What a client is told about a directory account state (docs/validators.md, "Directory
 * states"; docs/security.md, "What a refusal reveals"), and what the password change endpoint
 * tells it about a new password the directory's policy refused: the password grant and the
 * password change endpoint share these answers.
 *
 * A refusal differs from a wrong password's only when the directory proved the password
 * correct AND the refusing validator has `reveal: after-correct-password`: then it is
 * `invalid_grant` with a stable `error_description` and a `reason` extension field. Every
 * other refusal is the one `invalid_grant` of {@link BAD_CREDENTIALS}, byte for byte.
 *
 * Expiry warnings of a success are, under the same setting, two extension fields of the token
 * response and two attributes of the tokens (for identity headers: `attributes.password_expires_at`,
 * `attributes.password_grace_logins_remaining`). The expiry is stored as an absolute time (Unix
 * seconds), true for as long as the token lives; the grace count is the login's.
 */
import { InvalidGrantError, InvalidRequestError } from '../oauth/errors.js';
import type { ChainOutcome } from '../validators/chain.js';
import type { DirectoryState, PasswordPolicyFailure, PasswordWarnings } from '../validators/types.js';

/** The one description for every credential failure, so answers are identical byte for byte. */
export const BAD_CREDENTIALS = 'authentication failed';

/**
 * Stable descriptions of every `reason` a client may be told, part of the interface
 * (docs/validators.md): one per directory state, and one per rule of a directory's password
 * policy that refused a new password (the password change endpoint).
 */
export const REASON_DESCRIPTIONS: Readonly<Record<DirectoryState | PasswordPolicyFailure, string>> = {
  password_expired: 'the password has expired',
  password_change_required: 'the password must be changed',
  account_locked: 'the account is locked',
  account_disabled: 'the account is disabled',
  account_expired: 'the account has expired',
  outside_logon_hours: 'logins are not allowed at this time',
  workstation_not_allowed: 'logins are not allowed from this workstation',
  password_mod_not_allowed: 'the password may not be changed',
  too_short: 'the new password is too short',
  in_history: 'the new password was used before',
  too_young: 'the password was changed too recently to change again',
  insufficient_quality: 'the new password is not strong enough',
  mod_not_allowed: 'the password may not be changed here',
  must_supply_old_password: 'the old password is required',
  rejected: 'the directory refused the new password',
};

/** `invalid_grant` with `reason` beside `error_description` (an extension field, RFC 6749 §5.2 allows them). */
export class DirectoryStateError extends InvalidGrantError {
  constructor(override readonly reason: DirectoryState) {
    super(REASON_DESCRIPTIONS[reason]);
  }
}

/** 400 `invalid_request` naming the policy rule in `reason`. */
export class PasswordPolicyError extends InvalidRequestError {
  constructor(override readonly reason: PasswordPolicyFailure) {
    super(REASON_DESCRIPTIONS[reason]);
  }
}

/** Which validators reveal states (`reveal: after-correct-password`), by name. */
export type RevealPolicy = (validator: string) => boolean;

export const REVEAL_NOTHING: RevealPolicy = () => false;

/** The error for a refused login: a state only when proven and revealed (see the module comment). */
export function refusalError(outcome: ChainOutcome & { valid: false }, reveal: RevealPolicy): InvalidGrantError {
  if (outcome.state !== undefined && outcome.passwordVerified === true && outcome.validator !== undefined && reveal(outcome.validator)) {
    return new DirectoryStateError(outcome.state);
  }
  return new InvalidGrantError(BAD_CREDENTIALS);
}

/** The token response's extension fields for a success's warnings (none when not revealed). */
export function warningFields(outcome: ChainOutcome & { valid: true }, reveal: RevealPolicy): Record<string, number> {
  const warnings = outcome.warnings;
  if (!warnings || !reveal(outcome.validator)) return {};
  return {
    ...(warnings.secondsBeforeExpiration !== undefined ? { password_expires_in: warnings.secondsBeforeExpiration } : {}),
    ...(warnings.graceLoginsRemaining !== undefined ? { password_grace_logins_remaining: warnings.graceLoginsRemaining } : {}),
  };
}

/** The token attributes for a success's warnings, `now` in Unix seconds (none when not revealed). */
export function warningAttributes(
  warnings: PasswordWarnings | undefined,
  validator: string,
  reveal: RevealPolicy,
  now: number,
): Record<string, string> {
  if (!warnings || !reveal(validator)) return {};
  return {
    ...(warnings.secondsBeforeExpiration !== undefined ? { password_expires_at: String(now + warnings.secondsBeforeExpiration) } : {}),
    ...(warnings.graceLoginsRemaining !== undefined ? { password_grace_logins_remaining: String(warnings.graceLoginsRemaining) } : {}),
  };
}
