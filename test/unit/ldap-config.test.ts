/**
 * The LDAP and HTTP validators check their settings at startup and report every problem at
 * once, one line each, naming the key — before anything connects.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { checkItem, validatorSpecByType } from '../../src/config/items.js';
import type { HttpValidatorConfig, LdapValidatorConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { HttpValidator } from '../../src/validators/http.js';
import { LdapValidator } from '../../src/validators/ldap.js';
import { LdapConnector } from '../../src/validators/ldap-connection.js';
import { ldapValidatorConfig } from '../support/start-slapd.js';

const logger = createLogger('silent');
const base = ldapValidatorConfig({ url: 'ldap://127.0.0.1:1' });
const problemsOf = async (config: Partial<LdapValidatorConfig>): Promise<string[]> => {
  const err = await LdapValidator.open({ ...base, ...config }, logger).then(
    async (v) => {
      await v.close();
      return undefined;
    },
    (e: unknown) => e as Error,
  );
  return err === undefined ? [] : err.message.split('\n');
};

describe('LdapValidator.open: configuration checks', () => {
  it('accepts the fixture configuration without connecting (the directory may be down at startup)', async () => {
    expect(await problemsOf({})).toEqual([]);
  });

  it('reports every problem at once, one line per problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ropc-ldap-config-'));
    writeFileSync(join(dir, 'not-a-ca.pem'), 'hello\n');
    expect(
      await problemsOf({
        urls: ['http://ldap.example.org', 'ldaps://ldap.example.org:636', 'ldap://ldap.example.org/dc=example,dc=org?uid', 'not a url'],
        startTls: true,
        tlsCaFile: join(dir, 'not-a-ca.pem'),
        bindPassword: '',
        userSearchFilter: 'uid={username}',
        disabledFilter: '(description=a(b)',
        subjectAttribute: 'u id',
        groups: {
          memberOfAttribute: 'memberOf',
          searchBase: 'ou=groups,dc=example,dc=org',
          searchFilter: '(member={dn})',
          nameAttribute: 'cn',
        },
      }),
    ).toEqual([
      'urls[0]: "http://ldap.example.org" must start with ldap:// or ldaps://',
      'urls[1]: startTls applies to ldap:// URLs; ldaps://ldap.example.org:636 is already TLS',
      'urls[2]: "ldap://ldap.example.org/dc=example,dc=org?uid" must hold only a scheme, a host and a port (the base DN and filter are separate keys)',
      'urls[3]: "not a url" is not a URL',
      `tlsCaFile: ${join(dir, 'not-a-ca.pem')} holds no PEM certificate`,
      'bindPassword: bindDn is set but no bindPassword or bindPasswordFile is (an empty password is an unauthenticated bind, RFC 4513 §5.1.2)',
      'userSearchFilter: must be a filter in parentheses, e.g. (uid={username})',
      expect.stringMatching(/^disabledFilter: not a valid LDAP filter \(RFC 4515\): /),
      'subjectAttribute: "u id" is not an LDAP attribute name',
      'groups: set memberOfAttribute or searchBase (a group search), not both',
    ]);
  });

  it('needs a search base for search-then-bind, {username} in templates, and a readable CA file', async () => {
    expect(await problemsOf({ urls: [], userSearchBase: '', userSearchFilter: '(uid=joe)', tlsCaFile: '/nonexistent/ca.pem' })).toEqual([
      'urls: name at least one ldap:// or ldaps:// URL',
      'tlsCaFile: cannot read /nonexistent/ca.pem: ENOENT',
      'userSearchBase: required for search-then-bind (or set userDnTemplate for a direct bind)',
      'userSearchFilter: must contain {username}',
    ]);
    expect(await problemsOf({ userDnTemplate: 'uid=joe,ou=people,dc=example,dc=org', bindDn: '', bindPassword: 'x' })).toEqual([
      'bindDn: a bind password is set without bindDn',
      'userDnTemplate: must contain {username}',
    ]);
  });

  it('accepts a direct-bind configuration without a service account or search base', async () => {
    expect(
      await problemsOf({ userDnTemplate: 'uid={username},ou=people,dc=example,dc=org', userSearchBase: '', bindDn: '', bindPassword: '' }),
    ).toEqual([]);
  });

  it('accepts Active Directory filters (extensible match with a matching rule OID)', async () => {
    expect(
      await problemsOf({
        userSearchFilter: '(&(objectCategory=person)(objectClass=user)(sAMAccountName={username}))',
        subjectAttribute: 'sAMAccountName',
        disabledFilter: '(userAccountControl:1.2.840.113556.1.4.803:=2)',
        groups: {
          memberOfAttribute: '',
          searchBase: 'OU=Groups,DC=corp,DC=example,DC=com',
          searchFilter: '(member:1.2.840.113556.1.4.1941:={dn})',
          nameAttribute: 'cn',
        },
      }),
    ).toEqual([]);
  });

  it('fills in defaults a configuration built in code leaves out', async () => {
    const v = await LdapValidator.open(
      { name: 'd', type: 'ldap', urls: ['ldap://127.0.0.1:1'], userSearchBase: 'dc=x' } as unknown as LdapValidatorConfig,
      logger,
    );
    await v.close();
  });
});

describe('LdapConnector.order: failover memory', () => {
  it('tries URLs in configuration order, a recently failed one last until its retry time', async () => {
    const connector = new LdapConnector({
      urls: ['ldap://127.0.0.1:1', 'ldap://127.0.0.1:2'],
      startTls: false,
      tls: {},
      timeoutMs: 200,
      retryFailedUrlAfterMs: 60_000,
    });
    expect(connector.order()).toEqual(['ldap://127.0.0.1:1', 'ldap://127.0.0.1:2']);
    // Nothing listens on ports 1 and 2: both fail, port 1 first.
    await expect(connector.open()).rejects.toThrow(/^no LDAP server answered \(ldap:\/\/127\.0\.0\.1:1: .*; ldap:\/\/127\.0\.0\.1:2: /);
    expect(connector.order()).toEqual(['ldap://127.0.0.1:1', 'ldap://127.0.0.1:2']);
    expect(connector.order(Date.now() + 61_000)).toEqual(['ldap://127.0.0.1:1', 'ldap://127.0.0.1:2']);
  });
});

describe('HttpValidator.open: configuration checks', () => {
  const http = (config: Partial<HttpValidatorConfig>): HttpValidatorConfig => ({
    name: 'legacy',
    type: 'http',
    caseSensitive: false,
    subjectPrefix: '',
    groupScopes: {},
    url: 'http://127.0.0.1:1/verify',
    timeoutMs: 1000,
    tlsCaFile: '',
    headers: {},
    healthUrl: '',
    ...config,
  });

  it('reports every problem at once and never quotes a header value', async () => {
    const err = await HttpValidator.open(
      http({
        url: 'ftp://x',
        healthUrl: 'nope',
        headers: { 'X-Api-Key': 'secret\r\nInjected: 1', 'Content-Type': 'text/plain', 'bad header': 'x' },
        tlsCaFile: '/nonexistent',
      }),
      logger,
    ).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message.split('\n')).toEqual([
      'url: must be an http:// or https:// URL',
      'healthUrl: "nope" is not a URL',
      'headersFile: the value of X-Api-Key must not contain line breaks or NUL',
      'headersFile: Content-Type is set by the gateway and cannot be configured',
      'headersFile: "bad header" is not a valid header name',
      'tlsCaFile: cannot read /nonexistent: ENOENT',
    ]);
    expect(err?.message).not.toContain('secret');
  });
});

describe('docs/validators.md', () => {
  it('shows only valid ldap and http configurations', async () => {
    const text = readFileSync('docs/validators.md', 'utf8');
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1]!) as unknown);
    const entries = blocks.flatMap((b) => (Array.isArray(b) ? b : ((b as { validators?: unknown[] } | null)?.validators ?? []))) as Record<
      string,
      unknown
    >[];
    const checked = entries.filter((e) => e['type'] === 'ldap' || e['type'] === 'http');
    expect(checked.length).toBeGreaterThanOrEqual(5);
    for (const entry of checked) {
      const problems: string[] = [];
      const item = checkItem(validatorSpecByType[entry['type'] as string]!, entry, entry['name'] as string, problems);
      expect(problems).toEqual([]);
      // Secrets and CA files are read by the loader from files the docs only name.
      const config = { ...item, tlsCaFile: '', bindPassword: item['bindDn'] ? 'x' : '', headers: {} };
      const v =
        entry['type'] === 'ldap'
          ? await LdapValidator.open(config as unknown as LdapValidatorConfig, logger)
          : await HttpValidator.open(config as unknown as HttpValidatorConfig, logger);
      await v.close();
    }
  });
});
