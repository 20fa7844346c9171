/**
 * The key set that signs JWT access tokens (RFC 9068) and ID tokens (OIDC Core §2), and its
 * JWKS (RFC 7517), served at `oauth.paths.jwks` (docs/token-formats.md, "Key rotation").
 *
 * - Keys come from `oauth.signing.keyFiles` (PEM or JWK; EC P-256 → ES256, RSA ≥ 2048 → RS256)
 *   or, with none configured, are generated at start (one per algorithm some client uses).
 * - The FIRST key of each algorithm signs (the current key); every key is published, so a key
 *   listed after the current one is the next key (verifiers learn it before it signs) and an
 *   old one kept in the list is a retired key (tokens it signed still verify until they expire).
 * - `kid` is the key's `kid` member for a JWK file, else its RFC 7638 thumbprint: the same file
 *   gives the same `kid` on every replica.
 *
 * This is NOT the identity assertion's key (src/resource/assertion.ts, admin port): the two
 * have different audiences and lifetimes and are rotated apart.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, type JWK, type JWTVerifyGetKey } from 'jose';

export type SigningAlgorithm = 'ES256' | 'RS256';
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'RS256'];

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateKey: KeyObject;
  /** The public JWK as published: kty, crv/x/y or n/e, kid, alg, use. */
  readonly jwk: JWK;
}

export interface KeySet {
  /** The key that signs for `alg`; undefined when the set has none (a configuration error caught at load). */
  current(alg: SigningAlgorithm): SigningKey | undefined;
  /** The JWKS document: every key, current, next and retired. */
  readonly jwks: { readonly keys: readonly JWK[] };
  /** For jose's jwtVerify: the published key a token's `kid` (and `alg`) names. */
  readonly getKey: JWTVerifyGetKey;
}

/** The algorithm of a private key, or a reason it cannot sign here. */
export function algorithmOf(key: KeyObject): SigningAlgorithm | string {
  if (key.asymmetricKeyType === 'ec')
    return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256' : 'an EC key must be on P-256 (ES256)';
  if (key.asymmetricKeyType === 'rsa')
    return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? 'RS256' : 'an RSA key must have at least 2048 bits';
  return 'must be an EC P-256 or RSA private key';
}

/** Reads one key file (PEM, or a private JWK as JSON) and the `kid` a JWK names, if any. */
export function readKeyFile(file: string): { key: KeyObject; kid?: string } {
  const text = readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('{')) {
    const jwk = JSON.parse(text) as JWK;
    if (typeof jwk.d !== 'string') throw new Error('the JWK has no private part (d)');
    const key = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    return typeof jwk.kid === 'string' && jwk.kid ? { key, kid: jwk.kid } : { key };
  }
  return { key: createPrivateKey(text) };
}

async function signingKey(privateKey: KeyObject, alg: SigningAlgorithm, kid?: string): Promise<SigningKey> {
  const publicJwk = await exportJWK(createPublicKey(privateKey));
  const id = kid ?? (await calculateJwkThumbprint(publicJwk));
  return { kid: id, alg, privateKey, jwk: { ...publicJwk, kid: id, alg, use: 'sig' } };
}

/**
 * The key set of `files` (already checked by the configuration load), or generated keys for
 * `generate` when `files` is empty.
 */
export async function loadKeySet(files: readonly string[], generate: readonly SigningAlgorithm[]): Promise<KeySet> {
  const keys: SigningKey[] = [];
  for (const file of files) {
    const { key, kid } = readKeyFile(file);
    const alg = algorithmOf(key);
    if (alg !== 'ES256' && alg !== 'RS256') throw new Error(`${file}: ${alg}`);
    keys.push(await signingKey(key, alg, kid));
  }
  if (files.length === 0) {
    const { generateKeyPairSync } = await import('node:crypto');
    for (const alg of new Set(generate)) {
      const pair =
        alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
      keys.push(await signingKey(pair.privateKey, alg));
    }
  }
  const jwks = { keys: keys.map((k) => k.jwk) };
  return {
    current: (alg) => keys.find((k) => k.alg === alg),
    jwks,
    getKey: createLocalJWKSet(jwks),
  };
}
