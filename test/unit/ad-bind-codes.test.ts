import { describe, expect, it } from 'vitest';
import { adBindRefusal, changeFailure } from '../../src/validators/ad-account.js';
import { parseAdBindError } from '../../src/validators/ad-bind-codes.js';
import { ConstraintViolationError, InvalidCredentialsError } from 'ldapts';

/** Diagnostic messages as Samba 4.17 AD sent them (ldapts appends ` Code: 0x31`). */
const samba = (data: string): string =>
  `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data ${data}, v1db1 Code: 0x31`;

describe('AD bind sub-codes', () => {
  it.each([
    ['52e', undefined, false],
    ['525', undefined, false],
    ['530', 'outside_logon_hours', true],
    ['531', 'workstation_not_allowed', true],
    ['532', 'password_expired', true],
    ['533', 'account_disabled', true],
    ['701', 'account_expired', true],
    ['773', 'password_change_required', true],
    ['775', 'account_locked', false],
  ] as const)('data %s is %s (password verified: %s)', (code, state, passwordVerified) => {
    expect(parseAdBindError(samba(code))).toEqual({ code, state, passwordVerified });
  });

  it('reads Windows spellings (upper-case hex, no ldapts suffix)', () => {
    expect(parseAdBindError('80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52E, v4563')?.code).toBe('52e');
  });

  it('knows nothing of other messages or codes', () => {
    expect(parseAdBindError('Invalid credentials')).toBeUndefined();
    expect(parseAdBindError(samba('569'))).toBeUndefined();
    expect(parseAdBindError('data 533,')).toBeUndefined();
  });

  it('turns a code into a login refusal: a state, and passwordVerified only when proven', () => {
    expect(adBindRefusal(samba('52e'))).toEqual({ valid: false, reason: 'invalid-password' });
    expect(adBindRefusal(samba('532'))).toEqual({
      valid: false,
      reason: 'invalid-password',
      state: 'password_expired',
      passwordVerified: true,
    });
    expect(adBindRefusal(samba('775'))).toEqual({ valid: false, reason: 'invalid-password', state: 'account_locked' });
    expect(adBindRefusal('no sub-code')).toEqual({ valid: false, reason: 'invalid-password' });
  });

  it('maps the answers to a refused password change (as Samba 4.17 sent them)', () => {
    const samba = (text: string) => new ConstraintViolationError(`${text} Code: 0x13`);
    const policy = (text: string) => changeFailure(samba(`0000052D: Constraint violation - check_password_restrictions: ${text}`));
    expect(policy('the password is too short. It should be equal or longer than 10 characters!')).toEqual({
      changed: false,
      policy: 'too_short',
    });
    expect(policy('the password does not meet the complexity criteria!')).toEqual({ changed: false, policy: 'insufficient_quality' });
    expect(policy('the password was already used (previous password)!')).toEqual({ changed: false, policy: 'in_history' });
    expect(policy('the password was already used (in history)!')).toEqual({ changed: false, policy: 'in_history' });
    // Windows says no more than the code.
    expect(changeFailure(new ConstraintViolationError('0000052D: Constraint violation - check_password_restrictions'))).toEqual({
      changed: false,
      policy: 'rejected',
    });
    expect(
      changeFailure(samba("00000056: Constraint violation - check_password_restrictions: The old password specified doesn't match!")),
    ).toEqual({
      changed: false,
      refused: { valid: false, reason: 'invalid-password' },
    });
    expect(changeFailure(new InvalidCredentialsError('x'))).toBeUndefined();
    expect(changeFailure(new Error('socket hang up'))).toBeUndefined();
  });
});
