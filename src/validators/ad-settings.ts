/**
 * The `directory: active-directory` settings of the LDAP validator (docs/active-directory.md):
 * AD defaults for the keys left at their OpenLDAP defaults, and the checks of
 * `activeDirectory.*`, one line per problem. Pure; called by ldap-settings.ts.
 */
import type { LdapValidatorConfig } from '../config/types.js';
import type { AdDomainNames } from './ad-names.js';

/** Finds users by sAMAccountName (`{username}`, the account part) or by UPN (`{upn}`). */
export const AD_USER_FILTER = '(&(objectCategory=person)(objectClass=user)(|(sAMAccountName={username})(userPrincipalName={upn})))';
/** userAccountControl ACCOUNTDISABLE (0x2), through the bitwise-AND matching rule. */
export const AD_DISABLED_FILTER = '(userAccountControl:1.2.840.113556.1.4.803:=2)';
/** LDAP_MATCHING_RULE_IN_CHAIN: the groups of the user and, transitively, of its groups. */
export const AD_NESTED_GROUP_FILTER = '(member:1.2.840.113556.1.4.1941:={dn})';
/** Read from the user entry in AD mode (the second is constructed: it must be asked for). */
export const AD_ACCOUNT_ATTRIBUTES = ['userAccountControl', 'msDS-User-Account-Control-Computed'] as const;

const OPENLDAP_DEFAULTS = { userSearchFilter: '(uid={username})', subjectAttribute: 'uid', groupFilter: '(member={dn})' } as const;

export interface AdSettings {
  readonly names: AdDomainNames;
  readonly discovery: 'off' | 'ldaps' | 'ldap';
}

type Groups = LdapValidatorConfig['groups'];

/**
 * The configuration with the AD defaults (for directory: active-directory) and the group
 * filter of `groups.nested`; problems are pushed, one line each.
 */
export function withAdDefaults(
  config: LdapValidatorConfig,
  groups: Groups,
  problems: string[],
): { config: LdapValidatorConfig; groups: Groups; ad: AdSettings | undefined } {
  let nextGroups = groups;
  if (groups.nested) {
    if (config.directory !== 'active-directory') {
      problems.push("groups.nested: the in-chain matching rule is Active Directory's: set directory: active-directory");
    } else if (groups.searchFilter !== OPENLDAP_DEFAULTS.groupFilter) {
      problems.push(`groups.nested: with a searchFilter of your own, write the matching rule into it, e.g. ${AD_NESTED_GROUP_FILTER}`);
    } else if (!groups.searchBase) {
      problems.push('groups.nested: applies to a group search: set groups.searchBase');
    } else nextGroups = { ...groups, searchFilter: AD_NESTED_GROUP_FILTER };
  }
  if (config.directory !== 'active-directory') return { config, groups: nextGroups, ad: undefined };

  const raw = config.activeDirectory ?? {};
  const ad: AdSettings = {
    names: { domain: raw.domain ?? '', netbiosDomain: raw.netbiosDomain ?? '', upnSuffixes: raw.upnSuffixes ?? [] },
    discovery: raw.discovery ?? 'off',
  };
  const dnsName = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  if (!ad.names.domain)
    problems.push('activeDirectory.domain: required with directory: active-directory (the DNS domain, e.g. corp.example.com)');
  else if (!dnsName.test(ad.names.domain))
    problems.push(`activeDirectory.domain: ${JSON.stringify(ad.names.domain)} is not a DNS domain name`);
  if (ad.names.netbiosDomain && !/^[A-Za-z0-9][A-Za-z0-9!#$%&'()^_{}~.-]{0,14}$/.test(ad.names.netbiosDomain)) {
    problems.push(
      `activeDirectory.netbiosDomain: ${JSON.stringify(ad.names.netbiosDomain)} is not a NetBIOS domain name (1-15 characters, no \\ / : * ? " < > |)`,
    );
  }
  ad.names.upnSuffixes.forEach((suffix, i) => {
    if (!dnsName.test(suffix)) problems.push(`activeDirectory.upnSuffixes[${i}]: ${JSON.stringify(suffix)} is not a DNS domain name`);
  });
  if (config.userDnTemplate)
    problems.push('userDnTemplate: directory: active-directory searches the user (userSearchBase); a DN template is not supported');
  const next: LdapValidatorConfig = {
    ...config,
    userSearchFilter: config.userSearchFilter === OPENLDAP_DEFAULTS.userSearchFilter ? AD_USER_FILTER : config.userSearchFilter,
    subjectAttribute: config.subjectAttribute === OPENLDAP_DEFAULTS.subjectAttribute ? 'sAMAccountName' : config.subjectAttribute,
    disabledFilter: config.disabledFilter || AD_DISABLED_FILTER,
  };
  return { config: next, groups: nextGroups, ad };
}

/** Bits of userAccountControl and msDS-User-Account-Control-Computed ([MS-ADTS] §2.2.16). */
export const UAC_ACCOUNTDISABLE = 0x2;
export const UAC_LOCKOUT = 0x10;
export const UAC_PASSWORD_EXPIRED = 0x800000;

/** What the account-control attributes of an entry say, or undefined when the account is usable. */
export function accountControlState(
  userAccountControl: string | undefined,
  computed: string | undefined,
): 'account_disabled' | 'account_locked' | 'password_expired' | undefined {
  const flags = (Number(userAccountControl ?? 0) | Number(computed ?? 0)) >>> 0;
  if (flags & UAC_ACCOUNTDISABLE) return 'account_disabled';
  if (flags & UAC_LOCKOUT) return 'account_locked';
  if (flags & UAC_PASSWORD_EXPIRED) return 'password_expired';
  return undefined;
}
