/**
 * The `directory: active-directory` settings: AD defaults for keys left at their OpenLDAP
 * defaults, and one line per problem of `activeDirectory.*` and `groups.nested`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { checkItem, validatorSpecByType } from '../../src/config/items.js';
import type { LdapValidatorConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { LdapValidator } from '../../src/validators/ldap.js';
import { accountControlState } from '../../src/validators/ad-settings.js';
import { checkSettings, ldapSettingsProblems } from '../../src/validators/ldap-settings.js';
import { ldapValidatorConfig } from '../support/start-slapd.js';

const base = ldapValidatorConfig({ url: 'ldaps://dc1.corp.example.com' });
const ad = (overrides: Partial<LdapValidatorConfig> = {}): LdapValidatorConfig => ({
  ...base,
  disabledFilter: '',
  directory: 'active-directory',
  activeDirectory: { domain: 'corp.example.com', netbiosDomain: 'CORP' },
  groups: { memberOfAttribute: '', searchBase: 'DC=corp,DC=example,DC=com', searchFilter: '(member={dn})', nameAttribute: 'cn' },
  ...overrides,
});

describe('directory: active-directory settings', () => {
  it('fills the AD defaults for keys left at their OpenLDAP defaults', async () => {
    const {
      config,
      ad: settings,
      userAttributes,
    } = await checkSettings(ad({ userSearchFilter: '(uid={username})', subjectAttribute: 'uid' }));
    expect(config.userSearchFilter).toBe(
      '(&(objectCategory=person)(objectClass=user)(|(sAMAccountName={username})(userPrincipalName={upn})))',
    );
    expect(config.subjectAttribute).toBe('sAMAccountName');
    expect(config.disabledFilter).toBe('(userAccountControl:1.2.840.113556.1.4.803:=2)');
    expect(settings).toEqual({ names: { domain: 'corp.example.com', netbiosDomain: 'CORP', upnSuffixes: [] }, discovery: 'off' });
    expect(userAttributes).toEqual(expect.arrayContaining(['sAMAccountName', 'userAccountControl', 'msDS-User-Account-Control-Computed']));
  });

  it('keeps keys that were set', async () => {
    const { config } = await checkSettings(
      ad({ userSearchFilter: '(sAMAccountName={username})', subjectAttribute: 'objectGUID', disabledFilter: '(description=off)' }),
    );
    expect(config.userSearchFilter).toBe('(sAMAccountName={username})');
    expect(config.subjectAttribute).toBe('objectGUID');
    expect(config.disabledFilter).toBe('(description=off)');
  });

  it('turns groups.nested into the in-chain matching rule, for Active Directory only', async () => {
    expect((await checkSettings(ad({ groups: { ...ad().groups, nested: true } }))).groups.searchFilter).toBe(
      '(member:1.2.840.113556.1.4.1941:={dn})',
    );
    expect((await checkSettings(ad())).groups.searchFilter).toBe('(member={dn})');
    expect(ldapSettingsProblems({ ...base, groups: { ...ad().groups, nested: true } })).toEqual([
      "groups.nested: the in-chain matching rule is Active Directory's: set directory: active-directory",
    ]);
  });

  it('reads the account-control bits: disabled, locked (computed), password expired (computed)', () => {
    expect(accountControlState('512', '0')).toBeUndefined();
    expect(accountControlState(undefined, undefined)).toBeUndefined();
    expect(accountControlState('514', '0')).toBe('account_disabled');
    expect(accountControlState('512', '16')).toBe('account_locked'); // Samba: erin after the lockout threshold
    expect(accountControlState('512', String(0x800000))).toBe('password_expired');
  });

  it('reports every problem, one line each', () => {
    expect(
      ldapSettingsProblems(
        ad({
          urls: [],
          userDnTemplate: 'CN={username},CN=Users,DC=corp,DC=example,DC=com',
          activeDirectory: { domain: 'corp_example', netbiosDomain: 'CO\\RP', upnSuffixes: ['ok.example.com', 'not ok'] },
          groups: { ...ad().groups, searchFilter: '(member={dn})(x=y)', nested: true },
        }),
      ),
    ).toEqual([
      'groups.nested: with a searchFilter of your own, write the matching rule into it, e.g. (member:1.2.840.113556.1.4.1941:={dn})',
      'activeDirectory.domain: "corp_example" is not a DNS domain name',
      'activeDirectory.netbiosDomain: "CO\\\\RP" is not a NetBIOS domain name (1-15 characters, no \\ / : * ? " < > |)',
      'activeDirectory.upnSuffixes[1]: "not ok" is not a DNS domain name',
      'userDnTemplate: directory: active-directory searches the user (userSearchBase); a DN template is not supported',
      'urls: name at least one ldap:// or ldaps:// URL',
      expect.stringMatching(/^groups.searchFilter: /),
    ]);
  });

  it('requires the domain, and no urls when discovery finds them', () => {
    expect(ldapSettingsProblems(ad({ activeDirectory: {} }))).toEqual([
      'activeDirectory.domain: required with directory: active-directory (the DNS domain, e.g. corp.example.com)',
    ]);
    expect(ldapSettingsProblems(ad({ urls: [], activeDirectory: { domain: 'corp.example.com', discovery: 'ldaps' } }))).toEqual([]);
    expect(ldapSettingsProblems(ad({ groups: { ...ad().groups, searchBase: '', nested: true } }))).toEqual([
      'groups.nested: applies to a group search: set groups.searchBase',
    ]);
  });
});

describe('docs/active-directory.md', () => {
  it('shows a configuration the loader and the validator accept', async () => {
    const text = readFileSync('docs/active-directory.md', 'utf8');
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1]!) as { validators?: Record<string, unknown>[] });
    const entries = blocks.flatMap((b) => b.validators ?? []);
    expect(entries).toHaveLength(1);
    for (const entry of entries) {
      const problems: string[] = [];
      const item = checkItem(validatorSpecByType['ldap']!, entry, entry['name'] as string, problems);
      expect(problems).toEqual([]);
      expect(item).toMatchObject({
        directory: 'active-directory',
        activeDirectory: { domain: 'corp.example.com', discovery: 'ldaps' },
        groups: { nested: true },
      });
      // The CA file is read by the loader from a file the docs only name.
      const v = await LdapValidator.open(
        { ...item, tlsCaFile: '', bindPassword: 'x' } as unknown as LdapValidatorConfig,
        createLogger('silent'),
      );
      await v.close();
    }
  });
});
