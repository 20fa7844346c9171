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
 * The scopes to grant: the requested ones when every one is allowed, or `fallback` when none
 * was requested.
 * @throws InvalidScopeError naming the first scope that is not allowed.
 */
export function resolveScope(requested: readonly string[] | undefined, allowed: ReadonlySet<string>, fallback: readonly string[]): string[] {
  if (requested === undefined || requested.length === 0) return [...fallback];
  const refused = requested.find((s) => !allowed.has(s));
  if (refused !== undefined) throw new InvalidScopeError(`scope "${refused}" is not allowed`);
  return [...requested];
}

export function formatScope(scope: readonly string[]): string {
  return scope.join(' ');
}

export function sameScope(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((s) => b.includes(s));
}
