import { afterEach, describe, expect, it } from 'vitest';
import { lockoutUsername, registerAdDomain } from '../../src/security/canonical-username.js';
import { parseAdLogin } from '../../src/validators/ad-names.js';

const CORP = { domain: 'corp.example.com', netbiosDomain: 'CORP', upnSuffixes: ['example.com'] };

describe('Active Directory login spellings', () => {
  it('reads sAMAccountName, UPN and DOMAIN\\user as one account', () => {
    expect(parseAdLogin('alice', CORP)).toEqual({ account: 'alice', upn: 'alice@corp.example.com' });
    expect(parseAdLogin('alice@corp.example.com', CORP)).toEqual({ account: 'alice', upn: 'alice@corp.example.com' });
    expect(parseAdLogin('alice@EXAMPLE.com', CORP)).toEqual({ account: 'alice', upn: 'alice@EXAMPLE.com' });
    expect(parseAdLogin('corp\\alice', CORP)).toEqual({ account: 'alice', upn: 'alice@corp.example.com' });
    expect(parseAdLogin('corp.example.com\\alice', CORP)).toEqual({ account: 'alice', upn: 'alice@corp.example.com' });
  });

  it('calls other domains and empty or doubled parts foreign', () => {
    for (const login of [
      'OTHER\\alice',
      'alice@other.org',
      'CORP\\',
      '@corp.example.com',
      'CORP\\a\\b',
      'CORP\\a@corp.example.com',
      '\\alice',
      'a@b@corp.example.com',
    ]) {
      expect(parseAdLogin(login, CORP), login).toBe('foreign');
    }
    expect(parseAdLogin('CORP\\alice', { ...CORP, netbiosDomain: '' })).toBe('foreign');
  });
});

describe('lockout key of AD logins', () => {
  const owner = {};
  afterEach(() => registerAdDomain(owner, undefined));

  it('folds the registered domain away, and only that domain', () => {
    expect(lockoutUsername('CORP\\Alice')).toBe('corp\\alice');
    registerAdDomain(owner, CORP);
    for (const login of ['alice', 'ALICE', 'CORP\\alice', 'corp\\ALICE', 'alice@corp.example.com', 'Alice@Example.COM', 'ａｌｉｃｅ']) {
      expect(lockoutUsername(login), login).toBe('alice');
    }
    expect(lockoutUsername('OTHER\\alice')).toBe('other\\alice');
    expect(lockoutUsername('alice@example.org')).toBe('alice@example.org');
  });

  it('forgets the domain when its validator closes', () => {
    registerAdDomain(owner, CORP);
    registerAdDomain(owner, undefined);
    expect(lockoutUsername('CORP\\alice')).toBe('corp\\alice');
  });
});
