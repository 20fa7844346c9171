/**
 * The signed identity assertion (`headers.assertion`, docs/security.md "Signed identity
 * assertion"): a short-lived ES256 JWT (RFC 7519) of the identity the gateway vouches for,
 * so an upstream reachable by another path can verify the request came through the gateway.
 * Signed with `jose`; the public key is served as a JWKS (RFC 7517) on the admin port.
 */
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { Identity } from './identity-headers.js';

export interface AssertionSigner {
  /** The lower-case header name. */
  readonly header: string;
  sign(identity: Identity): Promise<string>;
  /** The JWKS document with the public key. */
  readonly jwks: { readonly keys: readonly JWK[] };
}

export async function createAssertionSigner(options: {
  header: string;
  keyFile: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}): Promise<AssertionSigner> {
  let privateKey: KeyObject | Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let publicJwk: JWK;
  if (options.keyFile) {
    // PKCS#8 or SEC1 PEM: node:crypto reads both; jose signs with the KeyObject.
    const key = createPrivateKey(readFileSync(options.keyFile));
    privateKey = key;
    const { d: _d, ...pub } = await exportJWK(key);
    publicJwk = pub;
  } else {
    const pair = await generateKeyPair('ES256', { extractable: false });
    privateKey = pair.privateKey;
    publicJwk = await exportJWK(pair.publicKey);
  }
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwk: JWK = { ...publicJwk, kid, alg: 'ES256', use: 'sig' };
  return {
    header: options.header.toLowerCase(),
    jwks: { keys: [jwk] },
    sign(identity) {
      const jwt = new SignJWT({ client_id: identity.clientId, scope: identity.scope.join(' '), groups: [...identity.groups] })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setIssuer(options.issuer)
        .setSubject(identity.sub)
        .setIssuedAt()
        .setExpirationTime(`${options.ttlSeconds}s`);
      if (options.audience) jwt.setAudience(options.audience);
      return jwt.sign(privateKey);
    },
  };
}
