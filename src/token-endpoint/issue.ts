/** Building token records and the RFC 6749 §5.1 response from them. */
import { systemClock, type Clock } from '../clock.js';
import type { GrantRecord, RefreshRecord, TokenToIssue } from '../tokens/types.js';
import { newToken } from '../tokens/token-value.js';
import { formatScope, sameScope } from '../oauth/scope.js';
import type { TokenResponse } from './grants/types.js';

export type GrantFields = Omit<GrantRecord, 'iat' | 'exp'>;

export function accessToken(fields: GrantFields, now: number, ttl: number): TokenToIssue {
  return { token: newToken(fields.familyId), record: { ...fields, iat: now, exp: now + ttl } };
}

export function refreshToken(fields: GrantFields, now: number, familyExp: number): TokenToIssue<RefreshRecord> {
  return { token: newToken(fields.familyId), record: { ...fields, iat: now, exp: familyExp, familyExp } };
}

export function tokenResponse(
  access: TokenToIssue,
  refresh: TokenToIssue | undefined,
  requested: readonly string[] | undefined,
  /** When the tokens were issued earlier (a replay in the reuse grace window): now, so expires_in is what is left. */
  now: number = access.record.iat,
): TokenResponse {
  const granted = access.record.scope;
  return {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: Math.max(0, access.record.exp - now),
    ...(refresh ? { refresh_token: refresh.token } : {}),
    ...(sameScope(requested, granted) ? {} : { scope: formatScope(granted) }),
  };
}

/** The time tokens are stamped with, whole seconds since the epoch (`clock`: default the system clock). */
export function nowSeconds(clock: Clock = systemClock): number {
  return Math.floor(clock.now() / 1000);
}
