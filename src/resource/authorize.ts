/** Route requirements against a token's record (RFC 6750 §3.1 `insufficient_scope`). */
import { InsufficientScopeError } from '../oauth/errors.js';
import type { Identity } from './identity-headers.js';
import type { CompiledRoute } from './routes.js';

/**
 * Checks the route's scopes (all, or any with `scopeMode: any`) and groups (any of them).
 * @throws InsufficientScopeError naming the missing scopes (403).
 */
export function authorize(route: CompiledRoute, record: Identity): void {
  if (route.scopes.length) {
    const has = (s: string) => record.scope.includes(s);
    const ok = route.scopeMode === 'any' ? route.scopes.some(has) : route.scopes.every(has);
    if (!ok) {
      const missing = route.scopeMode === 'any' ? route.scopes : route.scopes.filter((s) => !has(s));
      throw new InsufficientScopeError(`the token lacks the required scope`, missing);
    }
  }
  if (route.groups.length && !route.groups.some((g) => record.groups.includes(g))) {
    throw new InsufficientScopeError('the user is not in a group this route requires', []);
  }
}
