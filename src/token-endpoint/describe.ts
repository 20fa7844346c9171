/**
 * What a token presented to introspection (RFC 7662) or revocation (RFC 7009) is, in either
 * format (docs/token-formats.md): an opaque token as the store describes it; a JWT access
 * token of this gateway by the stored record it names (`sid`, `jti`), once its signature,
 * issuer and lifetime check out — any audience. The store decides, so both endpoints see a
 * revocation at once, on every replica, whatever the revocation feed's state.
 */
import { looksLikeJwt, type JwtAccessTokens } from '../tokens/jwt-access.js';
import type { AccessRef, TokenInfo, TokenStore } from '../tokens/types.js';

export type Described = { readonly info: TokenInfo; readonly ref?: AccessRef } | null;

export async function describePresented(token: string, store: TokenStore, jwt: JwtAccessTokens | undefined): Promise<Described> {
  if (!jwt || !looksLikeJwt(token)) {
    const info = await store.describeToken(token);
    return info && { info };
  }
  const verified = await jwt.verify(token, false);
  if (!verified) return null;
  const record = await store.getAccessByRef(verified.ref);
  return record && { info: { type: 'access', record }, ref: verified.ref };
}
