/**
 * Checks of the token formats and signing keys (docs/token-formats.md), one line per problem:
 * key files readable, of a usable type, with distinct `kid`s and a key for every algorithm a
 * client signs with; generated keys only where one process serves (store.type memory);
 * `oauth.jwtClaims` mapping attributes to claims that no registered claim already means.
 */
import { calculateJwkThumbprint } from 'jose';
import { createPublicKey } from 'node:crypto';
import { algorithmOf, readKeyFile } from '../tokens/key-set.js';
import { signingNeeds } from './token-formats.js';
import type { GatewayConfig } from './types.js';

/** Claims the gateway sets itself in JWT access tokens and ID tokens. */
const RESERVED_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'client_id',
  'scope',
  'groups',
  'sid',
  'auth_time',
  'amr',
  'acr',
  'azp',
  'nonce',
  'cnf',
  'typ',
  'roles',
  'entitlements',
]);

export async function signingProblems(config: GatewayConfig): Promise<string[]> {
  const problems: string[] = [];
  const { keyFiles } = config.oauth.signing;
  for (const [claim, field] of Object.entries(config.oauth.jwtClaims)) {
    if (RESERVED_CLAIMS.has(claim)) problems.push(`oauth.jwtClaims.${claim}: is a claim the gateway sets itself`);
    if (!/^attributes\.[^\s.]+$/.test(field)) problems.push(`oauth.jwtClaims.${claim}: must be attributes.NAME`);
  }
  const needs = signingNeeds(config);
  if (!needs.jwt && !needs.openid) return problems;
  if (keyFiles.length === 0) {
    if (config.store.type === 'redis') {
      problems.push(
        'oauth.signing.keyFiles: required with store.type redis when a client has JWT access tokens or the openid scope: generated keys differ per process, so a replica could not verify what another signed',
      );
    }
    return problems;
  }
  const kids = new Set<string>();
  const algorithms = new Set<string>();
  for (const [i, file] of keyFiles.entries()) {
    try {
      const { key, kid } = readKeyFile(file);
      const alg = algorithmOf(key);
      if (alg !== 'ES256' && alg !== 'RS256') {
        problems.push(`oauth.signing.keyFiles[${i}]: ${alg}`);
        continue;
      }
      algorithms.add(alg);
      const id =
        kid ??
        (await calculateJwkThumbprint(createPublicKey(key).export({ format: 'jwk' }) as Parameters<typeof calculateJwkThumbprint>[0]));
      if (kids.has(id)) problems.push(`oauth.signing.keyFiles[${i}]: the same kid as an earlier key (${id}); each key needs its own`);
      kids.add(id);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      problems.push(`oauth.signing.keyFiles[${i}]: cannot read a private key (PEM or JWK) from ${file}: ${reason}`);
    }
  }
  for (const alg of needs.algorithms) {
    if (!algorithms.has(alg))
      problems.push(`oauth.signing.keyFiles: no ${alg} key, but a client signs with ${alg} (clients[].signingAlgorithm)`);
  }
  return problems;
}
