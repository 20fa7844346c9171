/**
 * The LDAP validator's settings, checked once at startup: every problem at once, one line each,
 * naming the key (the registry prefixes the validator entry). Reads the CA file; never
 * connects, so the gateway starts while the directory is down.
 */
import { readCaFile } from './ca-file.js';
import { FilterParser } from 'ldapts';
import { validatorSpecs, type ItemSpec } from '../config/items.js';
import type { LdapValidatorConfig } from '../config/types.js';
import { escapeFilterValue, fillTemplate } from './ldap-escape.js';
import { AD_ACCOUNT_ATTRIBUTES, withAdDefaults, type AdSettings } from './ad-settings.js';
import { ProblemsError } from '../problems-error.js';
import { readUrl } from '../config/url-check.js';

/** A configuration the LDAP validator cannot work with; one line per problem. */
export class LdapConfigError extends ProblemsError {}

/** The configuration, checked and normalised once at startup. */
export interface Settings {
  readonly config: LdapValidatorConfig;
  readonly mode: 'search' | 'direct';
  readonly ca: Buffer | undefined;
  readonly groups: LdapValidatorConfig['groups'];
  readonly userAttributes: string[];
  /** directory: active-directory (ad-settings.ts); undefined for any other directory. */
  readonly ad: AdSettings | undefined;
}

const ATTRIBUTE_NAME = /^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)(;[A-Za-z0-9-]+)*$/;

/**
 * Every problem of an LDAP validator entry, one line each, keys relative to the entry
 * (`urls[0]: …`). Pure apart from reading the CA file; run by the configuration check
 * (src/config/validate.ts) before anything connects.
 */
export function ldapSettingsProblems(raw: LdapValidatorConfig): string[] {
  return examine(raw).problems;
}

/**
 * Checks and normalises the configuration (defaults filled in for keys a configuration built in
 * code leaves out). `start` has already run {@link ldapSettingsProblems}, so this only throws
 * for a configuration built in code.
 * @throws LdapConfigError with one line per problem.
 */
export async function checkSettings(raw: LdapValidatorConfig): Promise<Settings> {
  const { problems, settings } = examine(raw);
  if (settings === undefined) throw new LdapConfigError(problems);
  return settings;
}

function examine(raw: LdapValidatorConfig): { problems: string[]; settings?: Settings } {
  const problems: string[] = [];
  const merged = withDefaults(validatorSpecs['ldap']!, raw);
  const withAd = withAdDefaults(
    {
      ...merged,
      urls: merged['urls'] ?? [],
      activeDirectory: withDefaults(validatorSpecs['ldap']!['activeDirectory']!.fields!, raw.activeDirectory),
    } as unknown as LdapValidatorConfig,
    withDefaults(validatorSpecs['ldap']!['groups']!.fields!, raw.groups) as unknown as LdapValidatorConfig['groups'],
    problems,
  );
  const { config, groups, ad } = withAd;

  if (config.urls.length === 0 && (ad?.discovery ?? 'off') === 'off') problems.push('urls: name at least one ldap:// or ldaps:// URL');
  config.urls.forEach((url, i) => {
    const problem = urlProblem(url);
    if (problem) problems.push(`urls[${i}]: ${JSON.stringify(url)} ${problem}`);
    else if (config.startTls && /^ldaps:/i.test(url)) problems.push(`urls[${i}]: startTls applies to ldap:// URLs; ${url} is already TLS`);
  });

  const ca = config.tlsCaFile ? readCaFile(config.tlsCaFile, problems) : undefined;

  if (config.bindDn && !config.bindPassword) {
    problems.push(
      'bindPassword: bindDn is set but no bindPassword or bindPasswordFile is (an empty password is an unauthenticated bind, RFC 4513 §5.1.2)',
    );
  }
  if (!config.bindDn && config.bindPassword) problems.push('bindDn: a bind password is set without bindDn');

  const mode = config.userDnTemplate ? 'direct' : 'search';
  if (mode === 'direct') {
    if (!config.userDnTemplate.includes('{username}')) problems.push('userDnTemplate: must contain {username}');
  } else {
    if (!config.userSearchBase) problems.push('userSearchBase: required for search-then-bind (or set userDnTemplate for a direct bind)');
    if (!config.userSearchFilter.includes('{username}')) problems.push('userSearchFilter: must contain {username}');
    filterProblem('userSearchFilter', config.userSearchFilter, problems);
  }
  if (config.disabledFilter) filterProblem('disabledFilter', config.disabledFilter, problems);

  attributeProblem('subjectAttribute', config.subjectAttribute, problems);
  for (const [key, attribute] of Object.entries(config.attributes)) attributeProblem(`attributes.${key}`, attribute, problems);
  if (groups.memberOfAttribute && groups.searchBase)
    problems.push('groups: set memberOfAttribute or searchBase (a group search), not both');
  if (groups.memberOfAttribute) attributeProblem('groups.memberOfAttribute', groups.memberOfAttribute, problems);
  if (groups.searchBase) {
    filterProblem('groups.searchFilter', groups.searchFilter, problems);
    attributeProblem('groups.nameAttribute', groups.nameAttribute, problems);
  }
  if (problems.length > 0) return { problems };

  const userAttributes = unique([
    config.subjectAttribute,
    ...Object.values(config.attributes),
    ...(groups.memberOfAttribute ? [groups.memberOfAttribute] : []),
    ...(ad ? AD_ACCOUNT_ATTRIBUTES : []),
  ]);
  return { problems, settings: { config: { ...config, groups }, mode, ca, groups, userAttributes, ad } };
}

/** `value` with the spec's default for each key it lacks. */
function withDefaults(spec: ItemSpec, value: object | undefined): Record<string, unknown> {
  const defaults = Object.fromEntries(
    Object.entries(spec).flatMap(([key, field]) => (field.default === undefined ? [] : [[key, structuredClone(field.default)]])),
  );
  return { ...defaults, ...Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) };
}

function urlProblem(value: string): string | undefined {
  const url = readUrl(value, ['ldap:', 'ldaps:']);
  if (!url.url) {
    const port = /^[a-z]+:\/\/[^/:]+:(\d+)\/?$/i.exec(value)?.[1];
    if (port !== undefined && Number(port) > 65535) return `has the port ${port}, outside 1-65535`;
    return 'is not a URL';
  }
  if (url.wrongProtocol) return 'must start with ldap:// or ldaps://';
  if (url.noHost) return 'has no host';
  if (url.credentials || url.query || url.fragment || url.path) {
    return 'must hold only a scheme, a host and a port (the base DN and filter are separate keys)';
  }
  return undefined;
}

const FILTER_EXAMPLES: Readonly<Record<string, string>> = {
  disabledFilter: '(nsAccountLock=TRUE)',
  'groups.searchFilter': '(member={dn})',
};

/** A filter template must parse once its placeholders hold ordinary values. */
function filterProblem(key: string, template: string, problems: string[]): void {
  if (!template.startsWith('(') || !template.endsWith(')')) {
    problems.push(`${key}: must be a filter in parentheses, e.g. ${FILTER_EXAMPLES[key] ?? '(uid={username})'}`);
    return;
  }
  try {
    FilterParser.parseString(fillTemplate(template, { username: 'probe', dn: 'cn=probe' }, escapeFilterValue));
  } catch (err) {
    problems.push(`${key}: not a valid LDAP filter (RFC 4515): ${(err as Error).message.split('\n')[0]}`);
  }
}

function attributeProblem(key: string, attribute: string, problems: string[]): void {
  if (!ATTRIBUTE_NAME.test(attribute)) problems.push(`${key}: ${JSON.stringify(attribute)} is not an LDAP attribute name`);
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
