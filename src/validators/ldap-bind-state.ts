/**
 * What a user bind's answer says about the account (docs/validators.md, "Directory states"):
 * the bind's result plus the password policy controls it carried (ldap-password-policy.ts),
 * judged into one verdict in the shared vocabulary of src/validators/types.ts.
 *
 * Which refusals prove the password — checked against slapd 2.5 with `overlay ppolicy`
 * (test/integration/ppolicy.test.ts):
 *
 * | directory answer                                   | state                      | password proven |
 * |----------------------------------------------------|----------------------------|-----------------|
 * | invalidCredentials + policy error passwordExpired  | `password_expired`         | yes: slapd sends it only after the password matched (a wrong one gets no error) |
 * | success + policy error changeAfterReset            | `password_change_required` | yes: the bind succeeded |
 * | invalidCredentials + policy error accountLocked    | `account_locked`           | NO: slapd sends it for a right and a wrong password alike |
 * | invalidCredentials + Netscape expired (no policy control) | `password_expired`  | yes, as passwordExpired |
 * | success + timeBeforeExpiration / graceAuthNsRemaining / Netscape expiring | warnings | (a success) |
 *
 * Everything else a refused bind carries is no state: a wrong password.
 */
import type { PolicyAnswer } from './ldap-password-policy.js';
import type { DirectoryState, PasswordWarnings } from './types.js';

/** One user bind, as bindAs (ldap.ts) saw it. */
export interface UserBind {
  readonly status: 'bound' | 'refused' | 'no-such-dn';
  readonly answer: PolicyAnswer;
  /** The server's diagnostic message of a refused bind (Active Directory puts `data NNN` there). */
  readonly diagnostic?: string;
}

export type BindVerdict =
  | { readonly ok: true; readonly warnings?: PasswordWarnings }
  | { readonly ok: false; readonly state?: DirectoryState; readonly passwordVerified: boolean };

const WRONG: BindVerdict = Object.freeze({ ok: false, passwordVerified: false });

/** The verdict on a bind that did not fail on its DN (`bound` or `refused`). */
export function judgeBind(bind: UserBind): BindVerdict {
  const { policy, netscapeExpired } = bind.answer;
  if (bind.status === 'bound') {
    if (policy?.error === 'changeAfterReset') return { ok: false, state: 'password_change_required', passwordVerified: true };
    const warnings = warningsOf(bind.answer);
    return warnings ? { ok: true, warnings } : { ok: true };
  }
  if (bind.status !== 'refused') return WRONG;
  switch (policy?.error) {
    case 'passwordExpired':
      return { ok: false, state: 'password_expired', passwordVerified: true };
    case 'accountLocked':
      return { ok: false, state: 'account_locked', passwordVerified: false };
    case 'changeAfterReset':
      // Refused, so nothing proves the password here (slapd answers it on a success only).
      return { ok: false, state: 'password_change_required', passwordVerified: false };
    case undefined:
      break;
    default:
      return WRONG;
  }
  if (policy === undefined && netscapeExpired) return { ok: false, state: 'password_expired', passwordVerified: true };
  return WRONG;
}

/**
 * The warnings of a successful bind: the policy control's when it answered, else the Netscape
 * controls' (an expired control on a success — a grace login — says 0 seconds are left).
 */
function warningsOf(answer: PolicyAnswer): PasswordWarnings | undefined {
  const { policy } = answer;
  if (policy) {
    if (policy.graceAuthNsRemaining !== undefined) return { graceLoginsRemaining: policy.graceAuthNsRemaining };
    if (policy.timeBeforeExpiration !== undefined) return { secondsBeforeExpiration: policy.timeBeforeExpiration };
    return undefined;
  }
  if (answer.netscapeExpiringSeconds !== undefined) return { secondsBeforeExpiration: answer.netscapeExpiringSeconds };
  if (answer.netscapeExpired) return { secondsBeforeExpiration: 0 };
  return undefined;
}
