/**
 * Active Directory account answers for the LDAP validator (docs/active-directory.md): what a
 * refused bind's sub-code means for the login (ad-bind-codes.ts), what the account-control
 * bits of a user entry mean after a bind that succeeded, and the password change
 * (`unicodePwd` delete of the old value and add of the new one, each the password in double
 * quotes, UTF-16LE: [MS-ADTS] §3.1.1.3.1.5.1), which AD only accepts over TLS.
 */
import { Attribute, Change, ConstraintViolationError, InvalidCredentialsError, ResultCodeError } from 'ldapts';
import { parseAdBindError } from './ad-bind-codes.js';
import { accountControlState } from './ad-settings.js';
import type { LdapConnection } from './ldap-connection.js';
import { INVALID_PASSWORD, type PasswordChangeOutcome, type PasswordPolicyFailure, type ValidationOutcome } from './types.js';

/** The login outcome of a refused bind (`invalid-password`, with AD's state when it gave one). */
export function adBindRefusal(message: string): ValidationOutcome {
  const code = parseAdBindError(message);
  if (code?.state === undefined) return INVALID_PASSWORD;
  return Object.freeze({
    valid: false,
    reason: 'invalid-password',
    state: code.state,
    ...(code.passwordVerified ? { passwordVerified: true } : {}),
  });
}

/**
 * After a bind that succeeded: the entry's userAccountControl (ACCOUNTDISABLE) and
 * msDS-User-Account-Control-Computed (LOCKOUT, PASSWORD_EXPIRED) bits, as read by the user
 * search. A domain controller refuses such binds itself (533, 775, 532); this covers one whose
 * bind and entry disagree (replication lag between the search and the bind). The password
 * was verified by the bind.
 */
export function adEntryRefusal(userAccountControl: string | undefined, computed: string | undefined): ValidationOutcome | undefined {
  const state = accountControlState(userAccountControl, computed);
  return state ? Object.freeze({ valid: false, reason: 'invalid-password', state, passwordVerified: true }) : undefined;
}

/** `"password"` in UTF-16LE, as unicodePwd wants it. */
export function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}

/**
 * Changes a password: binds `connection` as the user with the old password; a user whose
 * password expired or must be changed cannot bind (532, 773: both prove the old password),
 * so then the change runs on `service` (the service account: AD grants the change-password
 * right to everyone who knows the old password). The delete of the old value proves it again.
 */
export async function adChangePassword(
  connection: LdapConnection,
  dn: string,
  oldPassword: string,
  newPassword: string,
  service: <T>(task: (c: LdapConnection) => Promise<T>) => Promise<T>,
): Promise<PasswordChangeOutcome> {
  let onService = false;
  try {
    await connection.bind(dn, oldPassword);
  } catch (err) {
    if (!(err instanceof InvalidCredentialsError)) throw err;
    const refusal = adBindRefusal(err.message);
    const mayChange = refusal.valid === false && (refusal.state === 'password_expired' || refusal.state === 'password_change_required');
    if (!mayChange) return { changed: false, refused: refusal as ValidationOutcome & { valid: false } };
    onService = true;
  }
  const changes = [
    new Change({ operation: 'delete', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(oldPassword)] }) }),
    new Change({ operation: 'add', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(newPassword)] }) }),
  ];
  try {
    await (onService ? service((c) => c.modify(dn, changes)) : connection.modify(dn, changes));
    return { changed: true };
  } catch (err) {
    const failure = changeFailure(err);
    if (failure === undefined) throw err;
    return failure;
  }
}

/**
 * AD's answers to a refused change: constraintViolation with `0000052D` (ERROR_PASSWORD_RESTRICTION:
 * the new password breaks the policy; Samba names the rule in the message) or `00000056`
 * (ERROR_INVALID_PASSWORD: the old password is wrong).
 * @returns undefined for anything else (the caller's outage).
 */
export function changeFailure(err: unknown): PasswordChangeOutcome | undefined {
  if (!(err instanceof ResultCodeError)) return undefined;
  const message = err.message;
  if (/\b00000056\b/.test(message)) return { changed: false, refused: INVALID_PASSWORD as ValidationOutcome & { valid: false } };
  if (err instanceof ConstraintViolationError && /\b0000052D\b/i.test(message)) return { changed: false, policy: policyFailure(message) };
  return undefined;
}

/** Samba's check_password_restrictions texts; Windows says only 0000052D (`rejected`). */
function policyFailure(message: string): PasswordPolicyFailure {
  if (/too short/i.test(message)) return 'too_short';
  if (/history|already used/i.test(message)) return 'in_history';
  if (/too young/i.test(message)) return 'too_young';
  if (/complexity/i.test(message)) return 'insufficient_quality';
  return 'rejected';
}
