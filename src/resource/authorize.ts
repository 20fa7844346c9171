/** Route requirements against a token's record (RFC 6750 §3.1 `insufficient_scope`). */
import { InsufficientScopeError } from '../oauth/errors.js';
import type { GrantRecord } from '../tokens/types.js';
import type { CompiledRoute } from './routes.js';

export function authorize(route: CompiledRoute, record: GrantRecord): void {
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
