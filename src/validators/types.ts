/**
 * Password credential validators (PCVs), docs/validators.md.
 *
 * A validator answers `valid` (with the principal) or `invalid`. When its backend is down,
 * times out or is misconfigured it THROWS a {@link ValidatorUnavailableError}: an outage must
 * never look like a wrong password (no `invalid_grant`, no lockout count).
 */
import { OutageError } from '../outage.js';

/** Who the credentials belong to, as the validator's backend describes them. */
export interface Principal {
  /** Stable subject identifier (`sub`), e.g. the LDAP `uid`. */
  readonly subject: string;
  readonly groups: readonly string[];
  readonly attributes: Readonly<Record<string, string>>;
}

/**
 * Why a validator refused, for the chain (docs/validators.md, "The chain"):
 * - `unknown-user`: this validator has no user of that name; in `first-known` mode the chain
 *   asks the next validator.
 * - `invalid-password`: the name may be one of this validator's users and the credentials are
 *   refused (wrong password, disabled, ambiguous, or the backend cannot tell); the chain stops.
 * When in doubt a validator answers `invalid-password`: a refusal that stops is the safe one.
 */
export type RefusalReason = 'unknown-user' | 'invalid-password';

/**
 * An account state a directory reported on a bind (LDAP password policy control, the Netscape
 * expiry controls, Active Directory's `data NNN` bind sub-codes), in one vocabulary for every
 * directory. docs/validators.md, "Directory states", lists what produces each.
 */
export type DirectoryState =
  | 'password_expired'
  | 'password_change_required'
  | 'account_locked'
  | 'account_disabled'
  | 'account_expired'
  | 'outside_logon_hours'
  | 'workstation_not_allowed'
  | 'password_mod_not_allowed';

/** Expiry warnings a directory sent with a successful bind, for the app to nag. */
export interface PasswordWarnings {
  readonly graceLoginsRemaining?: number;
  readonly secondsBeforeExpiration?: number;
}

export type ValidationOutcome =
  | { readonly valid: true; readonly principal: Principal; readonly warnings?: PasswordWarnings }
  | {
      readonly valid: false;
      readonly reason: RefusalReason;
      /** What the directory said about the account, when it said anything. */
      readonly state?: DirectoryState;
      /**
       * True only when the directory proved the password correct before refusing (an expired
       * but correct password, a correct password on a must-change account). Only then may
       * the client's answer differ from a wrong password's (`validators[].reveal`).
       */
      readonly passwordVerified?: boolean;
    };

/** The two refusals, frozen, for validators to return. */
export const UNKNOWN_USER: ValidationOutcome = Object.freeze({ valid: false, reason: 'unknown-user' });
export const INVALID_PASSWORD: ValidationOutcome = Object.freeze({ valid: false, reason: 'invalid-password' });

/**
 * The answer to a password change. `refused` carries the refusal the same way a login would
 * (an unknown user and a wrong old password are one answer to the client); `policy` means the
 * old password was right and the directory's password policy refused the new one.
 */
export type PasswordChangeOutcome =
  | { readonly changed: true }
  | { readonly changed: false; readonly refused: ValidationOutcome & { readonly valid: false } }
  | { readonly changed: false; readonly policy: PasswordPolicyFailure; readonly detail?: string };

/** Why a directory refused a new password (ppolicy's error codes, AD's constraint answer). */
export type PasswordPolicyFailure =
  | 'too_short'
  | 'in_history'
  | 'too_young'
  | 'insufficient_quality'
  | 'mod_not_allowed'
  | 'must_supply_old_password'
  | 'rejected';

export type RecheckOutcome = 'active' | 'gone' | 'unsupported';

export interface PasswordValidator {
  /** The configured `validators[].name`. */
  readonly name: string;
  /** The configured `validators[].type` (file, ldap, http). */
  readonly type: string;
  /**
   * Checks a username and password. `username` is as the client sent it (NFKC-normalised);
   * the validator applies its own case rule.
   * @throws ValidatorUnavailableError when the backend cannot answer.
   */
  validate(username: string, password: string): Promise<ValidationOutcome>;
  /**
   * Optional: spends about what {@link validate} spends refusing an unknown user (e.g. one hash
   * verification), touching no backend and no credentials. The chain calls it for the
   * validators it does not ask after an earlier one stopped it, so a refusal costs the same
   * whichever validator knew the name.
   */
  imitateRefusal?(): Promise<void>;
  /**
   * Optional: the hash an unknown user's refusal verifies (a users file: its most expensive),
   * so a locked user's dummy verification costs the same (src/security/login.ts).
   */
  readonly burnHash?: string | undefined;
  /**
   * Re-checks a subject on refresh (docs/security.md: a removed user loses access at the next
   * refresh). `unsupported` means the backend cannot tell; the refresh then proceeds.
   * @throws ValidatorUnavailableError when the backend cannot answer.
   */
  recheck(subject: string): Promise<RecheckOutcome>;
  /**
   * Optional: changes a user's password, proving the old one (the password change endpoint,
   * docs/validators.md "Changing a password"): the LDAP password modify extended operation
   * (RFC 3062) or Active Directory's `unicodePwd` delete-old/add-new over TLS.
   * @throws ValidatorUnavailableError when the backend cannot answer.
   */
  changePassword?(username: string, oldPassword: string, newPassword: string): Promise<PasswordChangeOutcome>;
  /** Backend state for `/readyz`; never throws. */
  health(): Promise<ValidatorHealth>;
  close(): Promise<void>;
}

export interface ValidatorHealth {
  readonly name: string;
  readonly type: string;
  readonly status: 'up' | 'down';
  readonly detail?: string;
}

/** Thrown by a validator whose backend is unavailable. Maps to 503 `temporarily_unavailable`. */
export class ValidatorUnavailableError extends OutageError {
  constructor(
    readonly validator: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`validator ${validator} unavailable: ${reason}`, options);
    this.name = 'ValidatorUnavailableError';
  }
}
