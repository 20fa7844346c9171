/** check-config's scope and subject warnings (src/config/scope-checks.ts), pure functions of the loaded configuration. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { scopeProblems, scopeWarnings } from '../../src/config/scope-checks.js';
import { main } from '../../src/main.js';
import type { GatewayConfig } from '../../src/config/types.js';

const client = (c: Record<string, unknown>) => ({
  grantTypes: ['password'],
  scopes: [],
  defaultScopes: ['read'],
  validators: ['directory'],
  ...c,
});
const validator = (v: Record<string, unknown>) => ({ type: 'file', subjectPrefix: '', groupScopes: {}, ...v });
const config = (c: Record<string, unknown>) => ({ clients: [], validators: [], routes: [], ...c }) as unknown as GatewayConfig;

describe('scopeWarnings', () => {
  it('warns about a group scope that no client using the validator lists (it can never be granted)', () => {
    const warnings = scopeWarnings(
      config({
        validators: [
          validator({ name: 'directory', groupScopes: { admins: ['admin'], editors: ['edit'] } }),
          validator({ name: 'local', subjectPrefix: 'file:' }),
        ],
        // `mobile` lists admin but does not use the directory: it cannot grant admin either.
        clients: [
          client({ scopes: ['read', 'edit'], defaultScopes: ['read'] }),
          client({ scopes: ['read', 'admin'], validators: ['local'] }),
        ],
      }),
    );
    expect(warnings).toEqual([
      'validators[0].groupScopes.admins: no client can grant "admin": a client\'s scopes are its ceiling, and no client whose chain has "directory" lists "admin" in clients[].scopes',
    ]);
  });

  it('warns about a route scope no client can grant, not about public routes', () => {
    const warnings = scopeWarnings(
      config({
        validators: [validator({ name: 'directory' })],
        clients: [client({ scopes: ['read'] })],
        routes: [
          { auth: 'bearer', scopes: ['read', 'admin'] },
          { auth: 'none', scopes: ['ghost'] },
        ],
      }),
    );
    expect(warnings).toEqual(['routes[0].scopes: no client can grant "admin" (no clients[].scopes lists it)']);
  });

  it('warns about a password client without defaultScopes (a request without scope is invalid_scope)', () => {
    const warnings = scopeWarnings(
      config({ validators: [validator({ name: 'directory' })], clients: [client({ scopes: ['read'], defaultScopes: [] })] }),
    );
    expect(warnings).toEqual([
      'clients[0].defaultScopes: empty: a password grant that names no scope is refused with invalid_scope (RFC 6749 §3.3)',
    ]);
  });

  it('warns when the subjects of two validators of one chain can be the same sub (a prefix that starts another)', () => {
    const chainOf = (...prefixes: string[]) => {
      const names = prefixes.map((_, k) => `v${k}`);
      const validators = prefixes.map((p, k) => validator({ name: names[k], subjectPrefix: p }));
      return scopeWarnings(config({ validators, clients: [client({ scopes: ['read'], validators: names })] }));
    };
    expect(chainOf('', '')).toEqual([
      'clients[0].validators: the subjects of v0 (prefix "") and v1 (prefix "") can be the same sub upstream and to revoke --subject; give each validator of the chain its own validators[].subjectPrefix, none the start of another',
    ]);
    // An unprefixed validator's user named "ldap:jdoe" would be the directory's jdoe.
    expect(chainOf('ldap:', '')).toHaveLength(1);
    expect(chainOf('ad:', 'ad:eu:')).toHaveLength(1);
    expect(chainOf('ldap:', 'file:')).toEqual([]);
    expect(chainOf('ldap:')).toEqual([]);
  });
});

describe('scopeProblems', () => {
  it('refuses a subjectPrefix with characters that could confuse a header, a log line or a shell', () => {
    expect(
      scopeProblems(
        config({ validators: [validator({ name: 'a', subjectPrefix: 'ldap:' }), validator({ name: 'b', subjectPrefix: 'x y,' })] }),
      ),
    ).toEqual(['validators[1].subjectPrefix: may hold only letters, digits and . : _ @ / -']);
  });
});

describe('check-config', () => {
  it('prints each warning on stderr as "warning: …" and still accepts the configuration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ropc-warn-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(join(dir, 'users.yaml'), 'users: []\n');
    writeFileSync(
      file,
      [
        'oauth: { issuer: "https://login.example.org" }',
        'store: { type: memory }',
        'upstream: { url: "http://127.0.0.1:9" }',
        'clients: [{ id: mobile, public: true, scopes: [read], defaultScopes: [read] }]',
        'validators: [{ name: local, type: file, path: users.yaml, groupScopes: { admins: [admin] } }]',
        'routes: [{ path: "/admin/**", scopes: [admin] }]',
        '',
      ].join('\n'),
    );
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['check-config', '--config', file])).toBe(0);
      expect(err.mock.calls.map((c) => String(c[0]))).toEqual([
        'warning: validators[0].groupScopes.admins: no client can grant "admin": a client\'s scopes are its ceiling, and no client whose chain has "local" lists "admin" in clients[].scopes\n',
        'warning: routes[0].scopes: no client can grant "admin" (no clients[].scopes lists it)\n',
      ]);
      expect(out.mock.calls.map((c) => String(c[0]))).toEqual(['configuration OK\n']);
    } finally {
      err.mockRestore();
      out.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
