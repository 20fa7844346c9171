/** Scopes (RFC 6749 §3.3): space-delimited, case-sensitive scope-tokens. */
import { InvalidScopeError } from './errors.js';

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Parses a `scope` parameter; undefined when it was not sent. */
export function parseScope(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const tokens = value.split(' ').filter((t) => t !== '');
  for (const t of tokens) if (!SCOPE_TOKEN.test(t)) throw new InvalidScopeError('scope contains a character RFC 6749 §3.3 does not allow');
  return [...new Set(tokens)];
}

/**
 * Before the password is checked: every requested scope must be within the client's ceiling
 * (`clients[].scopes`), and a request that names none needs the client's `defaultScopes`
 * (RFC 6749 §3.3: "process the request using a pre-defined default value or fail the request
 * indicating an invalid scope"). Neither depends on the user, so no validator is asked.
 * @throws InvalidScopeError
 */
export function checkScopeRequest(
  requested: readonly string[] | undefined,
  client: { readonly scopes: readonly string[]; readonly defaultScopes: readonly string[] },
): void {
  if (requested === undefined || requested.length === 0) {
    if (client.defaultScopes.length === 0) throw new InvalidScopeError('no scope was requested and the client has no default scope');
    return;
  }
  const refused = requested.find((s) => !client.scopes.includes(s));
  if (refused !== undefined) throw new InvalidScopeError(`scope "${refused}" is not allowed`);
}

/**
 * The scopes of a password grant, once the user is known. `grantable` is what the client may
 * grant this user (ScopePolicy.grantable). A request is granted whole or refused: a scope the
 * user may not have is `invalid_scope` (RFC 6749 §5.2 "exceeds the scope granted by the
 * resource owner"), never silently dropped. Without a request, the client's default scopes the
 * user may have are granted (the response then names them, RFC 6749 §5.1); none is
 * `invalid_scope`.
 * @throws InvalidScopeError
 */
export function grantScope(
  requested: readonly string[] | undefined,
  defaults: readonly string[],
  grantable: ReadonlySet<string>,
): string[] {
  if (requested === undefined || requested.length === 0) {
    const granted = defaults.filter((s) => grantable.has(s));
    if (granted.length === 0)
      throw new InvalidScopeError("no scope was requested and none of the client's default scopes is granted to this user");
    return granted;
  }
  const refused = requested.find((s) => !grantable.has(s));
  if (refused !== undefined) throw new InvalidScopeError(`scope "${refused}" is not granted to this user`);
  return [...requested];
}

/**
 * The scopes of a refresh (RFC 6749 §6). `original` is the scope of the refresh token;
 * `grantable` is what the client may grant the user under today's configuration. `kept` (what
 * the rotated refresh token carries) is `original` without what is no longer grantable, so a
 * refresh never widens and never regains a scope the configuration took away. `scope` is the
 * request (which must lie within `kept`) or, without one, all of `kept`.
 * @throws InvalidScopeError
 */
export function refreshScope(
  requested: readonly string[] | undefined,
  original: readonly string[],
  grantable: ReadonlySet<string>,
): { scope: string[]; kept: string[] } {
  const kept = original.filter((s) => grantable.has(s));
  if (requested === undefined || requested.length === 0) {
    if (kept.length === 0) throw new InvalidScopeError("none of the refresh token's scopes is granted any more");
    return { scope: kept, kept };
  }
  if (requested.some((s) => !original.includes(s))) throw new InvalidScopeError('a refresh may narrow the scope, never widen it');
  const lost = requested.find((s) => !kept.includes(s));
  if (lost !== undefined) throw new InvalidScopeError(`scope "${lost}" is no longer granted to this user`);
  return { scope: [...requested], kept };
}

export function formatScope(scope: readonly string[]): string {
  return scope.join(' ');
}

export function sameScope(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((s) => b.includes(s));
}
