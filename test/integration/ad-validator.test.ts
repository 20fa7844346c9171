/**
 * The LDAP validator in `directory: active-directory` mode against a real Samba AD domain
 * controller (test/support/start-samba.ts): the three login spellings, nested groups,
 * objectGUID/objectSid subjects, each bind sub-code Samba produces (with the right and the
 * wrong password), the domain's own lockout, and the unicodePwd password change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapValidatorConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { userKey } from '../../src/security/lockout.js';
import { LdapValidator } from '../../src/validators/ldap.js';
import type { ValidationOutcome } from '../../src/validators/types.js';
import {
  BASE_DN,
  DNS_DOMAIN,
  INNER_GROUP,
  LOCKOUT_THRESHOLD,
  NETBIOS_DOMAIN,
  OUTER_GROUP,
  SERVICE,
  USERS,
} from '../fixtures/ad/directory.js';
import { startDnsSrvServer } from '../support/dns-srv-server.js';
import { sambaSkipReason, startSamba, type SambaProcess } from '../support/start-samba.js';

const skip = sambaSkipReason();
if (skip) console.warn(skip);

function adConfig(samba: SambaProcess, overrides: Partial<LdapValidatorConfig> = {}): LdapValidatorConfig {
  return {
    name: 'ad',
    type: 'ldap',
    caseSensitive: false,
    subjectPrefix: '',
    reveal: 'none',
    passwordChangeWithoutTls: false,
    directory: 'active-directory',
    activeDirectory: { domain: DNS_DOMAIN, netbiosDomain: NETBIOS_DOMAIN, upnSuffixes: [], discovery: 'off' },
    urls: [samba.ldapsUrl],
    startTls: false,
    tlsCaFile: samba.caFile,
    tlsRejectUnauthorized: true,
    bindDn: SERVICE.upn,
    bindPassword: SERVICE.password,
    userSearchBase: BASE_DN,
    userSearchFilter: '(uid={username})',
    userDnTemplate: '',
    subjectAttribute: 'uid',
    attributes: { email: 'mail' },
    groups: { memberOfAttribute: '', searchBase: BASE_DN, searchFilter: '(member={dn})', nameAttribute: 'cn', nested: true },
    groupScopes: {},
    disabledFilter: '',
    timeoutMs: 5000,
    poolSize: 2,
    ...overrides,
  };
}

/** The outcome without the principal's frozen arrays, for toEqual. */
const refusal = (state: string | undefined, passwordVerified: boolean): ValidationOutcome =>
  ({
    valid: false,
    reason: 'invalid-password',
    ...(state ? { state } : {}),
    ...(passwordVerified ? { passwordVerified: true } : {}),
  }) as ValidationOutcome;

describe.skipIf(skip !== undefined)('LDAP validator, directory: active-directory, against Samba AD', () => {
  let samba: SambaProcess;
  let validator: LdapValidator;

  beforeAll(async () => {
    samba = await startSamba();
    validator = await LdapValidator.open(adConfig(samba), createLogger('silent'));
  }, 180_000);

  afterAll(async () => {
    await validator?.close();
    await samba?.stop();
  });

  // Domain Users is alice's primary group (primaryGroupID), which no member attribute lists:
  // as on Windows, a member search does not find it.
  it('logs alice in by sAMAccountName, by UPN and by DOMAIN\\user, with nested groups', async () => {
    for (const login of ['alice', `alice@${DNS_DOMAIN}`, `${NETBIOS_DOMAIN}\\alice`, 'ALICE', `ropc\\Alice`]) {
      const outcome = await validator.validate(login, USERS.alice.password);
      expect(outcome, login).toMatchObject({ valid: true, principal: { subject: 'alice', attributes: { email: `alice@${DNS_DOMAIN}` } } });
      if (outcome.valid) expect([...outcome.principal.groups].sort(), login).toEqual([INNER_GROUP, OUTER_GROUP].sort());
    }
  });

  it('gives the three spellings one lockout key, and a foreign domain none of alice', () => {
    const key = userKey('alice');
    expect(userKey(`alice@${DNS_DOMAIN}`)).toBe(key);
    expect(userKey(`${NETBIOS_DOMAIN}\\alice`)).toBe(key);
    expect(userKey('ROPC\\ALICE')).toBe(key);
    expect(userKey('OTHER\\alice')).not.toBe(key);
    expect(userKey('alice@example.org')).not.toBe(key);
  });

  it('refuses a wrong password, an unknown user and another domain the usual way', async () => {
    expect(await validator.validate('alice', 'Wrong-Passw0rd!')).toEqual(refusal(undefined, false));
    expect(await validator.validate('nobody', 'Wrong-Passw0rd!')).toEqual({ valid: false, reason: 'unknown-user' });
    expect(await validator.validate('OTHER\\alice', USERS.alice.password)).toEqual({ valid: false, reason: 'unknown-user' });
    expect(await validator.validate('alice@example.org', USERS.alice.password)).toEqual({ valid: false, reason: 'unknown-user' });
  });

  it('reads each sub-code Samba gives with the right password; a wrong password is plain 52e', async () => {
    const cases = [
      [USERS.bob, 'account_disabled'],
      [USERS.carol, 'account_expired'],
      [USERS.dave, 'password_change_required'],
      [USERS.frank, 'outside_logon_hours'],
      [USERS.gina, 'workstation_not_allowed'],
      [USERS.hank, 'password_expired'],
    ] as const;
    for (const [user, state] of cases) {
      expect(await validator.validate(user.sam, user.password), user.sam).toEqual(refusal(state, true));
      expect(await validator.validate(user.sam, 'Wrong-Passw0rd!'), user.sam).toEqual(refusal(undefined, false));
    }
  });

  it('reads the domain lockout (775), which Samba gives whatever the password', async () => {
    for (let i = 0; i < LOCKOUT_THRESHOLD; i++) expect(await validator.validate('erin', `Wrong-${i}`)).toEqual(refusal(undefined, false));
    expect(await validator.validate('erin', 'Wrong-again')).toEqual(refusal('account_locked', false));
    expect(await validator.validate('erin', USERS.erin.password)).toEqual(refusal('account_locked', false));
  });

  it('uses objectGUID or objectSid as the subject, in the string forms samba-tool shows', async () => {
    const shown = await samba.tool(['user', 'show', 'alice', '--attributes=objectGUID,objectSid']);
    const guid = /objectGUID: (\S+)/.exec(shown)?.[1];
    const sid = /objectSid: (\S+)/.exec(shown)?.[1];
    expect(guid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(sid).toMatch(/^S-1-5-21-\d+-\d+-\d+-\d+$/);
    for (const [attribute, expected] of [
      ['objectGUID', guid],
      ['objectSid', sid],
    ] as const) {
      const v = await LdapValidator.open(
        adConfig(samba, { subjectAttribute: attribute, attributes: { sid: 'objectSid' } }),
        createLogger('silent'),
      );
      try {
        expect(await v.validate('alice', USERS.alice.password)).toMatchObject({
          valid: true,
          principal: { subject: expected, attributes: { sid } },
        });
        expect(await v.recheck(expected!)).toBe('active');
        const other = attribute === 'objectGUID' ? '00000000-0000-0000-0000-000000000000' : 'S-1-5-21-1-2-3-4';
        expect(await v.recheck(other)).toBe('gone');
        expect(await v.recheck('alice')).toBe('gone');
      } finally {
        await v.close();
      }
    }
  });

  it('re-checks a subject: active, and gone once the account is disabled', async () => {
    expect(await validator.recheck('pat')).toBe('active');
    expect(await validator.recheck('nobody')).toBe('gone');
    expect(await validator.recheck('bob')).toBe('gone');
  });

  it('changes a password over LDAPS; refuses a wrong old password and a weak new one', async () => {
    expect(await validator.changePassword('pat', 'Wrong-Passw0rd!', 'Pat-N3w-Passw0rd!')).toEqual({
      changed: false,
      refused: refusal(undefined, false),
    });
    expect(await validator.changePassword('nobody', 'Wrong-Passw0rd!', 'Pat-N3w-Passw0rd!')).toEqual({
      changed: false,
      refused: { valid: false, reason: 'unknown-user' },
    });
    expect(await validator.changePassword('pat', USERS.pat.password, 'Sh0rt!')).toEqual({ changed: false, policy: 'too_short' });
    expect(await validator.changePassword('pat', USERS.pat.password, 'alllowercaseletters')).toEqual({
      changed: false,
      policy: 'insufficient_quality',
    });
    expect(await validator.changePassword(`${NETBIOS_DOMAIN}\\pat`, USERS.pat.password, 'Pat-N3w-Passw0rd!')).toEqual({ changed: true });
    expect(await validator.validate('pat', 'Pat-N3w-Passw0rd!')).toMatchObject({ valid: true, principal: { subject: 'pat' } });
    expect(await validator.validate('pat', USERS.pat.password)).toEqual(refusal(undefined, false));
    // Samba keeps 3 passwords of history: the one just replaced is refused.
    expect(await validator.changePassword('pat', 'Pat-N3w-Passw0rd!', USERS.pat.password)).toEqual({
      changed: false,
      policy: 'in_history',
    });
  });

  it('changes the password of a user who must change it (773) or whose password expired (532), who cannot bind', async () => {
    expect(await validator.changePassword('dave', 'Wrong-Passw0rd!', 'Dave-N3w-Passw0rd!')).toEqual({
      changed: false,
      refused: refusal(undefined, false),
    });
    expect(await validator.changePassword('dave', USERS.dave.password, 'Dave-N3w-Passw0rd!')).toEqual({ changed: true });
    expect(await validator.validate('dave', 'Dave-N3w-Passw0rd!')).toMatchObject({ valid: true, principal: { subject: 'dave' } });
    expect(await validator.changePassword(`hank@${DNS_DOMAIN}`, USERS.hank.password, 'short')).toEqual({
      changed: false,
      policy: 'too_short',
    });
    expect(await validator.changePassword(`hank@${DNS_DOMAIN}`, USERS.hank.password, 'Hank-N3w-Passw0rd!')).toEqual({ changed: true });
    expect(await validator.validate('hank', 'Hank-N3w-Passw0rd!')).toMatchObject({ valid: true, principal: { subject: 'hank' } });
  });

  it('does not change the password of a disabled or locked account', async () => {
    expect(await validator.changePassword('bob', USERS.bob.password, 'Bob-N3w-Passw0rd!')).toEqual({
      changed: false,
      refused: refusal('account_disabled', true),
    });
    expect(await validator.validate('bob', 'Bob-N3w-Passw0rd!')).toEqual(refusal(undefined, false));
  });

  it('escapes filter characters in the login: a wildcard or a filter in a name finds nobody', async () => {
    expect(await validator.validate('al*', USERS.alice.password)).toEqual({ valid: false, reason: 'unknown-user' });
    expect(await validator.validate('*)(sAMAccountName=alice', USERS.alice.password)).toEqual({ valid: false, reason: 'unknown-user' });
    expect(await validator.validate(`${NETBIOS_DOMAIN}\\al*`, USERS.alice.password)).toEqual({ valid: false, reason: 'unknown-user' });
  });

  it('finds the domain controller from _ldap._tcp SRV records, past a dead one of lower priority', async () => {
    const dns = await startDnsSrvServer({
      [`_ldap._tcp.${DNS_DOMAIN}`]: [
        { priority: 0, weight: 0, port: 389, target: '127.78.0.1' }, // nothing listens there
        { priority: 10, weight: 0, port: 389, target: samba.address },
      ],
    });
    const config = adConfig(samba, {
      urls: [],
      activeDirectory: { domain: DNS_DOMAIN, netbiosDomain: NETBIOS_DOMAIN, discovery: 'ldaps' },
    });
    const v = await LdapValidator.open(config, createLogger('silent'), { dnsServers: [dns.address] });
    try {
      expect(await v.validate(`${NETBIOS_DOMAIN}\\alice`, USERS.alice.password)).toMatchObject({
        valid: true,
        principal: { subject: 'alice' },
      });
      expect(dns.questions).toContain(`_ldap._tcp.${DNS_DOMAIN}`);
      expect(await v.health()).toMatchObject({ status: 'up', detail: `ldaps://${samba.address}:636 answers` });
    } finally {
      await v.close();
      await dns.close();
    }
  });
});
