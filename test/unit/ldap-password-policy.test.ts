/**
 * The password policy controls' decoding, from bytes captured off Debian's slapd 2.5.13 with
 * `overlay ppolicy` (`ppolicy_use_lockout`, `ppolicy_send_netscape_controls`): each hex value is
 * the control value a real bind answered, for the state named. test/integration/ppolicy.test.ts
 * produces the same states on a live slapd.
 */
import { describe, expect, it } from 'vitest';
import { decodeNetscapeSeconds, decodePolicyResponse, encodePasswordModify } from '../../src/validators/ldap-password-policy.js';

const hex = (h: string): Buffer => Buffer.from(h, 'hex');

describe('decodePolicyResponse: captured from slapd', () => {
  it.each([
    ['a good password, nothing to say', '3000', {}],
    ['expired, no grace logins (correct password)', '3003810100', { error: 'passwordExpired' }],
    ['locked (pwdAccountLockedTime), right or wrong password alike', '3003810101', { error: 'accountLocked' }],
    ['pwdReset TRUE with pwdMustChange (correct password)', '3003810102', { error: 'changeAfterReset' }],
    ['expired, one grace login left', '3005a003810101', { graceAuthNsRemaining: 1 }],
    ['expiring in 598 s (pwdExpireWarning)', '3006a00480020256', { timeBeforeExpiration: 598 }],
    ['password modify: too short (pwdMinLength)', '3003810106', { error: 'passwordTooShort' }],
    ['password modify: in history (pwdInHistory; here the current password again)', '3003810108', { error: 'passwordInHistory' }],
  ])('%s', (_, value, expected) => {
    expect(decodePolicyResponse(hex(value))).toStrictEqual(expected);
  });

  it('reads both a warning and an error, and a long-form length', () => {
    expect(decodePolicyResponse(hex('3081'.concat('09', 'a004800200ff', '810107')))).toStrictEqual({
      timeBeforeExpiration: 255,
      error: 'passwordTooYoung',
    });
  });

  it('names an error value it does not know `unknown` and skips unknown elements', () => {
    expect(decodePolicyResponse(hex('30068101638201ff'))).toStrictEqual({ error: 'unknown' });
  });

  it.each([
    ['empty', ''],
    ['not a sequence', '0400'],
    ['truncated', '3005a00381'],
    ['negative integer', '3005a003800180'],
    ['empty integer', '3004a0028000'],
    ['unknown warning', '3005a003820101'],
    ['huge length', '3085ffffffffff'],
  ])('refuses %s', (_, value) => {
    expect(() => decodePolicyResponse(hex(value))).toThrow(/malformed BER/);
  });
});

describe('decodeNetscapeSeconds: captured from slapd', () => {
  it('reads the expiring control (594 s left)', () => {
    expect(decodeNetscapeSeconds(hex('353934'))).toBe(594);
  });

  it('reads the expired control (value "0")', () => {
    expect(decodeNetscapeSeconds(hex('30'))).toBe(0);
  });

  it('refuses anything but digits', () => {
    expect(() => decodeNetscapeSeconds(Buffer.from('-5'))).toThrow(/malformed BER/);
    expect(() => decodeNetscapeSeconds(Buffer.from(''))).toThrow(/malformed BER/);
  });
});

describe('encodePasswordModify (RFC 3062 §2)', () => {
  it('writes old and new password as [1] and [2] in a SEQUENCE', () => {
    expect(encodePasswordModify({ oldPassword: 'old', newPassword: 'new-pw' }).toString('hex')).toBe(
      '300d' + '81036f6c64' + '82066e65772d7077',
    );
  });

  it('writes the user identity as [0] and long values with a long-form length', () => {
    const value = encodePasswordModify({ userIdentity: 'uid=a', newPassword: 'x'.repeat(200) });
    expect(value.subarray(0, 3).toString('hex')).toBe('3081d2');
    expect(value.subarray(3, 10).toString('hex')).toBe('800575696' + '43d61');
    expect(value.subarray(10, 13).toString('hex')).toBe('8281c8');
    expect(value.length).toBe(3 + 7 + 3 + 200);
  });

  it('writes UTF-8', () => {
    expect(encodePasswordModify({ newPassword: 'ü' }).toString('hex')).toBe('30048202c3bc');
  });
});
