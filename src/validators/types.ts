/**
 * Password credential validators (PCVs), DESIGN §4.
 *
 * A validator answers `valid` (with the principal) or `invalid`. When its backend is down,
 * times out or is misconfigured it THROWS a {@link ValidatorUnavailableError}: an outage must
 * never look like a wrong password (no `invalid_grant`, no lockout count).
 */

/** Who the credentials belong to, as the validator's backend describes them. */
export interface Principal {
  /** Stable subject identifier (`sub`), e.g. the LDAP `uid`. */
  readonly subject: string;
  readonly groups: readonly string[];
  readonly attributes: Readonly<Record<string, string>>;
  /** Extra scopes this principal may be granted (LDAP `groupScopes`), on top of the client's. */
  readonly extraScopes?: readonly string[];
}

export type ValidationOutcome =
  | { readonly valid: true; readonly principal: Principal }
  | { readonly valid: false };

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
   * Re-checks a subject on refresh (DESIGN §3: a removed user loses access at the next
   * refresh). `unsupported` means the backend cannot tell; the refresh then proceeds.
   * @throws ValidatorUnavailableError when the backend cannot answer.
   */
  recheck(subject: string): Promise<RecheckOutcome>;
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
export class ValidatorUnavailableError extends Error {
  constructor(readonly validator: string, reason: string, options?: { cause?: unknown }) {
    super(`validator ${validator} unavailable: ${reason}`, options);
    this.name = 'ValidatorUnavailableError';
  }
}
