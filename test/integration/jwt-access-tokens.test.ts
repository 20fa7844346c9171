/**
 * JWT access tokens (RFC 9068) on a real gateway (docs/token-formats.md): issued to the clients
 * that ask for them, verified by jose against the published JWKS, by oauth4webapi's RFC 9068
 * validator, and by hand with node:crypto (a verifier that shares no JOSE code with the
 * gateway); accepted by the resource path, refused when tampered, expired for this audience or
 * revoked; introspected and revoked like opaque tokens.
 */
import { createPublicKey, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { basicAuth, CLIENT, postForm, USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';
import { hashSecret } from '../../src/security/password-hash.js';

const ISSUER = 'http://gateway.test';
const env = useGateway({
  config: async () => {
    const secretHash = await hashSecret(CLIENT.secret);
    return {
      oauth: { issuer: ISSUER, accessTokenFormat: 'jwt', jwtClaims: { email: 'attributes.email' } },
      decision: { enabled: true, ingress: 'nginx' },
      headers: {
        identity: {
          'X-Auth-Subject': 'sub',
          'X-Auth-Client-Id': 'client_id',
          'X-Auth-Scope': 'scope',
          'X-Auth-Groups': 'groups',
          'X-Auth-Email': 'attributes.email',
        },
      },
      clients: [
        { id: CLIENT.id, secretHash, scopes: ['read', 'edit'], defaultScopes: ['read'] },
        { id: 'legacy', secretHash, scopes: ['read'], defaultScopes: ['read'], signingAlgorithm: 'RS256' },
        { id: 'elsewhere', secretHash, scopes: ['read'], defaultScopes: ['read'], audience: ['https://other.api'] },
        { id: 'opaque', secretHash, scopes: ['read'], defaultScopes: ['read'], accessTokenFormat: 'opaque' },
      ],
    };
  },
});
beforeAll(async () => {
  const h = await hashSecret(USERS.joe.password);
  await env.gw.reloadUsers([
    { username: 'joe', passwordHash: h, groups: ['editors'], attributes: { email: 'joe@example.org', phone: '555' } } as never,
  ]);
});

async function login(clientId: string = CLIENT.id, scope = 'read edit'): Promise<{ access_token: string; refresh_token: string }> {
  const res = await env.password('joe', { client: clientId, scope });
  expect(res.status).toBe(200);
  return res.json as { access_token: string; refresh_token: string };
}

const call = (token: string) => fetch(`${env.gw.url}/api`, { headers: { authorization: `Bearer ${token}` } });
const introspect = async (token: string, clientId: string = CLIENT.id) =>
  (await postForm(`${env.gw.url}/as/introspect.oauth2`, `token=${token}`, { authorization: basicAuth(clientId) })).json;

/** RFC 7515 §5.2 by hand: the JWKS key named by kid, the signature over header.payload. */
async function verifyByHand(jwt: string): Promise<Record<string, unknown>> {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string; alg: string };
  const jwks = (await (await fetch(`${env.gw.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (!jwk) throw new Error(`no key ${kid}`);
  const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  const data = Buffer.from(`${header}.${payload}`);
  const ok =
    alg === 'ES256'
      ? verifySignature('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))
      : verifySignature('sha256', data, key, Buffer.from(signature, 'base64url'));
  if (!ok) throw new Error('bad signature');
  return JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
}

describe('JWT access tokens (RFC 9068)', () => {
  it('issues an at+jwt that jose, oauth4webapi and a hand check with node:crypto all verify against the JWKS', async () => {
    const { access_token: jwt } = await login();
    expect(decodeProtectedHeader(jwt)).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });

    const jwks = createRemoteJWKSet(new URL(`${env.gw.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(jwt, jwks, { issuer: ISSUER, audience: ISSUER, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: 'joe', client_id: CLIENT.id, scope: 'read edit', groups: ['editors'], email: 'joe@example.org' });
    expect(payload).not.toHaveProperty('phone');
    expect(payload.nbf).toBe(payload.iat);
    expect((payload.exp as number) - (payload.iat as number)).toBe(14400);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const as = (await oauth.processDiscoveryResponse(
      new URL(ISSUER),
      await fetch(`${env.gw.url}/.well-known/oauth-authorization-server`),
    )) as oauth.AuthorizationServer;
    expect(as.jwks_uri).toBe(`${ISSUER}/.well-known/jwks.json`);
    // oauth4webapi fetches jwks_uri itself: point it at the test listener.
    const local = { ...as, jwks_uri: `${env.gw.url}/.well-known/jwks.json` };
    const request = new Request(`${env.gw.url}/api`, { headers: { authorization: `Bearer ${jwt}` } });
    const claims = await oauth.validateJwtAccessToken(local, request, ISSUER, { [oauth.allowInsecureRequests]: true });
    expect(claims).toMatchObject({ sub: 'joe', client_id: CLIENT.id, iss: ISSUER });

    expect(await verifyByHand(jwt)).toMatchObject({ sub: 'joe', iss: ISSUER, aud: ISSUER });
  });

  it('signs RS256 for a client that asks for it, verifiable by hand', async () => {
    const { access_token: jwt } = await login('legacy', 'read');
    expect(decodeProtectedHeader(jwt)).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    expect(await verifyByHand(jwt)).toMatchObject({ sub: 'joe', client_id: 'legacy' });
    expect((await call(jwt)).status).toBe(200);
  });

  it('is accepted by the resource path with the identity it carries, mapped attributes included', async () => {
    const { access_token: jwt } = await login();
    const res = await call(jwt);
    expect(res.status).toBe(200);
    const { headers } = (await res.json()) as { headers: Record<string, string> };
    expect(headers).toMatchObject({
      'x-auth-subject': 'joe',
      'x-auth-client-id': CLIENT.id,
      'x-auth-scope': 'read edit',
      'x-auth-groups': 'editors',
      'x-auth-email': 'joe@example.org',
    });
  });

  it('refuses a tampered JWT, one for another audience, and one signed by a key not in the set', async () => {
    const { access_token: jwt } = await login();
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url')}.${s}`;
    expect((await call(forged)).status).toBe(401);

    const { access_token: foreign } = await login('elsewhere', 'read');
    const { payload } = await jwtVerify(foreign, createRemoteJWKSet(new URL(`${env.gw.url}/.well-known/jwks.json`)), {
      audience: 'https://other.api',
    });
    expect(payload.aud).toEqual(['https://other.api']);
    expect((await call(foreign)).status).toBe(401);
    // Still one of ours: introspection answers for it.
    expect(await introspect(foreign, 'elsewhere')).toMatchObject({ active: true, sub: 'joe', client_id: 'elsewhere' });

    const { generateKeyPair, SignJWT } = await import('jose');
    const { privateKey } = await generateKeyPair('ES256');
    const selfMade = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: decodeProtectedHeader(jwt).kid! })
      .sign(privateKey);
    expect((await call(selfMade)).status).toBe(401);
  });

  it('introspects and revokes a JWT access token; the resource path refuses it at once', async () => {
    const { access_token: jwt, refresh_token: refresh } = await login();
    expect(await introspect(jwt)).toMatchObject({
      active: true,
      sub: 'joe',
      client_id: CLIENT.id,
      token_type: 'Bearer',
      scope: 'read edit',
    });
    expect(await introspect(jwt, 'legacy')).toEqual({ active: false });

    // Another client's revocation touches nothing.
    await postForm(env.gw.revocationUrl, `token=${jwt}`, { authorization: basicAuth('legacy') });
    expect((await call(jwt)).status).toBe(200);

    expect((await postForm(env.gw.revocationUrl, `token=${jwt}&token_type_hint=access_token`, { authorization: basicAuth() })).status).toBe(
      200,
    );
    expect((await call(jwt)).status).toBe(401);
    expect(await introspect(jwt)).toEqual({ active: false });
    // One access token, not the family: the refresh token still works and gives a new JWT.
    const refreshed = await env.token(`grant_type=refresh_token&refresh_token=${refresh}`);
    expect(refreshed.status).toBe(200);
    const next = refreshed.json as { access_token: string; refresh_token: string };
    expect(decodeProtectedHeader(next.access_token).typ).toBe('at+jwt');
    expect((await call(next.access_token)).status).toBe(200);

    // Revoking the refresh token ends the family: its JWTs are refused.
    await postForm(env.gw.revocationUrl, `token=${next.refresh_token}`, { authorization: basicAuth() });
    expect((await call(next.access_token)).status).toBe(401);
    expect(await introspect(next.access_token)).toEqual({ active: false });
  });

  it('answers the decision endpoint for a JWT, and refuses it there once revoked', async () => {
    const { access_token: jwt } = await login();
    const ask = () =>
      fetch(`${env.gw.url}/_ropc/auth`, {
        headers: { authorization: `Bearer ${jwt}`, 'x-original-method': 'GET', 'x-original-uri': '/api' },
      });
    const allowed = await ask();
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('x-auth-subject')).toBe('joe');
    await postForm(env.gw.revocationUrl, `token=${jwt}`, { authorization: basicAuth() });
    const refused = await ask();
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('keeps opaque tokens for a client that says so, and publishes jwks_uri in the metadata', async () => {
    const { access_token: token } = await login('opaque', 'read');
    expect(token).toMatch(/^[A-Za-z0-9_-]{65}$/);
    expect((await call(token)).status).toBe(200);
    const meta = (await (await fetch(`${env.gw.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.jwks_uri).toBe(`${ISSUER}/.well-known/jwks.json`);
    const res = await fetch(`${env.gw.url}/.well-known/jwks.json`);
    expect(res.headers.get('content-type')).toBe('application/jwk-set+json');
    const { keys } = (await res.json()) as { keys: JWK[] };
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const k of keys) expect(k).not.toHaveProperty('d');
  });
});
