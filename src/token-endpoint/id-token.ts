/**
 * ID tokens on the password grant (OIDC Core §2, §3.1.3.3), docs/token-formats.md "OpenID
 * Connect". Issued when the granted scope includes `openid`, signed with the key set of the
 * JWT access tokens (src/tokens/key-set.ts) in the client's `signingAlgorithm`.
 *
 * Claims: `iss`, `sub`, `aud` (the client id), `exp` (the access token's), `iat`, `auth_time`
 * (the password check), `amr: ["pwd"]` (RFC 8176 §2), `sid` (the token family), and the
 * profile/email/phone claims of the granted scopes (oidc-claims.ts). No `nonce`: the password grant
 * has no authorization request to carry one.
 *
 * Not reissued on refresh: OIDC Core §12.2 lets the refresh response omit it, and an ID token
 * describes the authentication event, which a refresh is not.
 */
import { SignJWT } from 'jose';
import type { KeySet, SigningAlgorithm } from '../tokens/key-set.js';
import type { GrantRecord } from '../tokens/types.js';
import { scopedClaims } from './oidc-claims.js';

export class IdTokens {
  constructor(
    private readonly keys: KeySet,
    private readonly issuer: string,
  ) {}

  async sign(
    record: GrantRecord,
    client: { readonly id: string; readonly signingAlgorithm: SigningAlgorithm },
    authTime: number,
  ): Promise<string> {
    const key = this.keys.current(client.signingAlgorithm);
    if (!key) throw new Error(`no ${client.signingAlgorithm} signing key`);
    return new SignJWT({ ...scopedClaims(record.scope, record.attributes), auth_time: authTime, amr: ['pwd'], sid: record.familyId })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(record.sub)
      .setAudience(client.id)
      .setIssuedAt(record.iat)
      .setExpirationTime(record.exp)
      .sign(key.privateKey);
  }
}
