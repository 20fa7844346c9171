/** oauth.signing and the token formats (src/config/signing-checks.ts): one line per problem. */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { signingProblems } from '../../src/config/signing-checks.js';
import { loadKeySet } from '../../src/tokens/key-set.js';

const HASH = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const dir = mkdtempSync(join(tmpdir(), 'ropc-sign-'));
const ec = join(dir, 'ec.pem');
const ecCopy = join(dir, 'ec-copy.pem');
const rsa = join(dir, 'rsa.pem');
const small = join(dir, 'small.pem');
const jwk = join(dir, 'ec.jwk');
const ecKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
writeFileSync(ec, ecKey.export({ type: 'sec1', format: 'pem' }));
writeFileSync(ecCopy, ecKey.export({ type: 'pkcs8', format: 'pem' }));
writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }));
writeFileSync(small, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
writeFileSync(
  jwk,
  JSON.stringify({ ...generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' }), kid: '2026-12' }),
);

function config(yaml: string) {
  const file = join(mkdtempSync(join(dir, 'c-')), 'gateway.yaml');
  writeFileSync(
    file,
    `store: { type: redis, redis: { url: "redis://127.0.0.1:1" } }
upstream: { url: "http://127.0.0.1:8080" }
validators: [{ name: local, type: file, path: users.yaml }]
${yaml}`,
  );
  return loadConfig({ mode: 'production', file, env: {} });
}

describe('signing checks', () => {
  it('needs nothing while every client is opaque and none lists openid', async () => {
    expect(await signingProblems(config(`clients: [{ id: app, secretHash: "${HASH}", scopes: [read] }]`))).toEqual([]);
  });

  it('requires key files with a redis store when a client has JWTs or openid', async () => {
    const jwt = config(`clients: [{ id: app, secretHash: "${HASH}", scopes: [read], accessTokenFormat: jwt }]`);
    expect(await signingProblems(jwt)).toEqual([expect.stringMatching(/^oauth\.signing\.keyFiles: required with store\.type redis/)]);
    const openid = config(`clients: [{ id: app, secretHash: "${HASH}", scopes: [openid] }]`);
    expect(await signingProblems(openid)).toHaveLength(1);
  });

  it('accepts PEM and JWK keys and names each bad one, a duplicate and a missing algorithm', async () => {
    const ok = config(`oauth: { accessTokenFormat: jwt, signing: { keyFiles: ["${ec}", "${jwk}", "${rsa}"] } }
clients: [{ id: app, secretHash: "${HASH}", scopes: [read], signingAlgorithm: RS256 }, { id: b, secretHash: "${HASH}", scopes: [read] }]`);
    expect(await signingProblems(ok)).toEqual([]);
    const set = await loadKeySet(ok.oauth.signing.keyFiles, []);
    expect(set.jwks.keys.map((k) => k.alg)).toEqual(['ES256', 'ES256', 'RS256']);
    expect(set.jwks.keys[1]?.kid).toBe('2026-12');
    expect(set.current('ES256')?.kid).toBe(set.jwks.keys[0]?.kid);

    const bad =
      config(`oauth: { accessTokenFormat: jwt, jwtClaims: { sub: attributes.x, mail: email }, signing: { keyFiles: ["${ec}", "${ecCopy}", "${small}", "${join(dir, 'missing.pem')}"] } }
clients: [{ id: app, secretHash: "${HASH}", scopes: [read], signingAlgorithm: RS256 }]`);
    expect(await signingProblems(bad)).toEqual([
      'oauth.jwtClaims.sub: is a claim the gateway sets itself',
      'oauth.jwtClaims.mail: must be attributes.NAME',
      expect.stringMatching(/^oauth\.signing\.keyFiles\[1\]: the same kid as an earlier key/),
      'oauth.signing.keyFiles[2]: an RSA key must have at least 2048 bits',
      expect.stringMatching(/^oauth\.signing\.keyFiles\[3\]: cannot read a private key \(PEM or JWK\) from .*missing\.pem: ENOENT/),
      'oauth.signing.keyFiles: no RS256 key, but a client signs with RS256 (clients[].signingAlgorithm)',
    ]);
  });
});
