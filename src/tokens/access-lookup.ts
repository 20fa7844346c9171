/**
 * The resource path's token lookup (src/resource/handler.ts, step 3) for both formats
 * (docs/token-formats.md): an opaque token is looked up in the store (or its local cache); a
 * JWT access token of this gateway is verified locally (signature, `typ`, `iss`, `aud`,
 * `exp`, `nbf`: jwt-access.ts) and checked against the revocations every replica hears
 * (jwt-revocations.ts) — and, where memory cannot be sure, against the store.
 */
import { looksLikeJwt, type JwtAccessTokens } from './jwt-access.js';
import type { JwtRevocationList } from './jwt-revocations.js';
import type { GrantRecord, TokenStore } from './types.js';

export type AccessLookup = (token: string) => Promise<GrantRecord | null>;

export interface JwtLookupParts {
  readonly tokens: JwtAccessTokens;
  readonly revocations: JwtRevocationList;
  /** Asked when the revocation list answers `ask-store`; throws StoreUnavailableError on outage (503). */
  readonly store: Pick<TokenStore, 'getAccessByRef'>;
}

/**
 * {@link accessLookup}'s answer for a JWT when memory alone gives it: verified before
 * (jwt-access.ts `peek`) and `valid` on the revocation list; undefined when only the lookup
 * can tell (not remembered, or the list says ask the store).
 */
export function peekJwt(tokens: JwtAccessTokens, revocations: JwtRevocationList, token: string): GrantRecord | undefined {
  if (!looksLikeJwt(token)) return undefined;
  const verified = tokens.peek(token);
  if (!verified) return undefined;
  const { record, ref } = verified;
  return revocations.check(ref.hash, ref.familyId, record.iat, record.exp) === 'valid' ? record : undefined;
}

export function accessLookup(opaque: AccessLookup, jwt: JwtLookupParts | undefined): AccessLookup {
  if (!jwt) return opaque;
  return async (token) => {
    if (!looksLikeJwt(token)) return opaque(token);
    const verified = await jwt.tokens.verify(token, true);
    if (!verified) return null;
    const { record, ref } = verified;
    const answer = jwt.revocations.check(ref.hash, ref.familyId, record.iat, record.exp);
    if (answer === 'revoked') return null;
    if (answer === 'ask-store' && !(await jwt.store.getAccessByRef(ref))) return null;
    return record;
  };
}
