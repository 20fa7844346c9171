/**
 * Checks of what the configuration grants: scopes (clients, groupScopes, routes) and subjects
 * (validators' subjectPrefix). Pure functions of the loaded configuration, each problem or
 * warning one line naming the key. Problems refuse the configuration; warnings are printed by
 * `check-config` and logged at startup, and never stop the gateway.
 * See docs/validators.md ("Scopes and groups", "The chain").
 */
import { SUBJECT_PREFIX } from '../validators/subject-prefix.js';
import type { GatewayConfig } from './types.js';

type ScopeConfig = Pick<GatewayConfig, 'clients' | 'validators' | 'routes'>;

/** Problems that make the configuration invalid. */
export function scopeProblems(config: Pick<GatewayConfig, 'validators'>): string[] {
  const problems: string[] = [];
  config.validators.forEach((v, i) => {
    if (typeof v.subjectPrefix === 'string' && !SUBJECT_PREFIX.test(v.subjectPrefix)) {
      problems.push(`validators[${i}].subjectPrefix: may hold only letters, digits and . : _ @ / -`);
    }
  });
  return problems;
}

/** Configurations that are valid but grant something other than they seem to. */
export function scopeWarnings(config: ScopeConfig): string[] {
  const warnings: string[] = [];
  config.validators.forEach((v, i) => {
    const users = config.clients.filter((c) => c.validators.includes(v.name));
    for (const [group, scopes] of Object.entries(v.groupScopes)) {
      for (const s of scopes) {
        if (users.some((c) => c.scopes.includes(s))) continue;
        warnings.push(
          `validators[${i}].groupScopes.${group}: no client can grant "${s}": a client's scopes are its ceiling, and no client whose chain has "${v.name}" lists "${s}" in clients[].scopes`,
        );
      }
    }
  });
  config.routes.forEach((r, i) => {
    if (r.auth === 'none') return;
    for (const s of r.scopes) {
      if (!config.clients.some((c) => c.scopes.includes(s)))
        warnings.push(`routes[${i}].scopes: no client can grant "${s}" (no clients[].scopes lists it)`);
    }
  });
  config.clients.forEach((c, i) => {
    if (c.grantTypes.includes('password') && c.defaultScopes.length === 0) {
      warnings.push(
        `clients[${i}].defaultScopes: empty: a password grant that names no scope is refused with invalid_scope (RFC 6749 §3.3)`,
      );
    }
    // Subjects tell validators apart only when no prefix of the chain starts another (and at
    // most one validator has none): otherwise `ldap:jdoe` may be the directory's jdoe or a
    // user named "ldap:jdoe" of an unprefixed validator.
    const chain = c.validators.map((name) => config.validators.find((v) => v.name === name)).filter((v) => v !== undefined);
    for (const [j, a] of chain.entries()) {
      for (const b of chain.slice(j + 1)) {
        if (!a.subjectPrefix.startsWith(b.subjectPrefix) && !b.subjectPrefix.startsWith(a.subjectPrefix)) continue;
        warnings.push(
          `clients[${i}].validators: the subjects of ${a.name} (prefix ${JSON.stringify(a.subjectPrefix)}) and ${b.name} (prefix ${JSON.stringify(b.subjectPrefix)}) can be the same sub upstream and to revoke --subject; give each validator of the chain its own validators[].subjectPrefix, none the start of another`,
        );
      }
    }
  });
  return warnings;
}
