/**
 * Active Directory's bind sub-codes (docs/active-directory.md, "What a refused bind says"): a
 * refused simple bind answers invalidCredentials (49) with a diagnostic message such as
 * `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 533, v1db1`,
 * whose `data` field is the Windows error of the logon, in hex. This module reads it into the
 * shared {@link DirectoryState} vocabulary, and says whether the directory checked the
 * password before giving it.
 *
 * Verified against Samba 4.17 AD (test/integration/ad-validator.test.ts): 530, 531, 532, 533,
 * 701 and 773 come only with the right password (a wrong one gives 52e); 775 comes whatever
 * the password; an unknown account gives 52e, never 525. Windows domain controllers document
 * the same (ERROR_ACCOUNT_RESTRICTION family: checked after the password).
 */
import type { DirectoryState } from './types.js';

/** What one sub-code means. */
export interface AdBindCode {
  /** The `data` value, lower-case hex as AD writes it (`52e`). */
  readonly code: string;
  /** Undefined for a plain wrong password (52e) or an unknown account (525). */
  readonly state: DirectoryState | undefined;
  /** True when AD gives this code only after the password was found correct. */
  readonly passwordVerified: boolean;
}

const CODES: Readonly<Record<string, Omit<AdBindCode, 'code'>>> = {
  '52e': { state: undefined, passwordVerified: false }, // ERROR_LOGON_FAILURE: wrong password (or no such account)
  '525': { state: undefined, passwordVerified: false }, // ERROR_NO_SUCH_USER
  '530': { state: 'outside_logon_hours', passwordVerified: true }, // ERROR_INVALID_LOGON_HOURS
  '531': { state: 'workstation_not_allowed', passwordVerified: true }, // ERROR_INVALID_WORKSTATION
  '532': { state: 'password_expired', passwordVerified: true }, // ERROR_PASSWORD_EXPIRED
  '533': { state: 'account_disabled', passwordVerified: true }, // ERROR_ACCOUNT_DISABLED
  '701': { state: 'account_expired', passwordVerified: true }, // ERROR_ACCOUNT_EXPIRED
  '773': { state: 'password_change_required', passwordVerified: true }, // ERROR_PASSWORD_MUST_CHANGE
  '775': { state: 'account_locked', passwordVerified: false }, // ERROR_ACCOUNT_LOCKED_OUT: given whatever the password
};

/** `data 52e,` in the `AcceptSecurityContext error` comment of a refused bind. */
const DATA = /AcceptSecurityContext error, data ([0-9a-f]+),/i;

/**
 * The sub-code of a refused bind's diagnostic message.
 * @returns undefined when the message carries no sub-code this module knows (not AD, or a code
 *   it does not list): the caller treats the refusal as a wrong password.
 */
export function parseAdBindError(message: string): AdBindCode | undefined {
  const code = DATA.exec(message)?.[1]?.toLowerCase();
  if (code === undefined) return undefined;
  const known = Object.hasOwn(CODES, code) ? CODES[code] : undefined;
  return known ? { code, ...known } : undefined;
}
