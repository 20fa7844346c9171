/**
 * The signed identity assertion (headers.assertion, docs/security.md): the upstream verifies
 * the gateway's ES256 JWT with jose's createRemoteJWKSet against the admin port's /jwks.json;
 * a client-sent assertion never reaches it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { basicAuth, postForm, startGateway, USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';

const env = useGateway({
  config: {
    log: { level: 'warn' },
    headers: { assertion: { enabled: true, audience: 'legacy-app', ttlSeconds: 60 } },
    routes: [{ path: '/public/**', auth: 'none' }],
  },
});
let token: string;
beforeAll(async () => {
  token = await env.accessToken('joe', { scope: 'read edit' });
});

const seen = async (path: string, headers: Record<string, string>) =>
  ((await (await fetch(`${env.gw.url}${path}`, { headers })).json()) as { headers: Record<string, string> }).headers;

describe('the signed identity assertion', () => {
  it('verifies against the JWKS on the admin port and carries the identity', async () => {
    const headers = await seen('/api/x', { authorization: `Bearer ${token}`, 'x-auth-assertion': 'forged.jwt.value' });
    const jwt = headers['x-auth-assertion'] as string;
    expect(jwt).not.toBe('forged.jwt.value');
    const jwks = createRemoteJWKSet(new URL(`${env.gw.adminUrl}/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(jwt, jwks, {
      issuer: 'http://localhost:9031',
      audience: 'legacy-app',
      algorithms: ['ES256'],
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: 'joe', client_id: 'app', scope: 'read edit', groups: ['editors'], aud: 'legacy-app' });
    expect((payload.exp as number) - (payload.iat as number)).toBe(60);
  });

  it('a client-sent assertion is stripped where the gateway vouches for no one', async () => {
    const headers = await seen('/public/x', { 'x-auth-assertion': 'forged.jwt.value', x_auth_assertion: 'forged' });
    expect(headers).not.toHaveProperty('x-auth-assertion');
    expect(headers).not.toHaveProperty('x_auth_assertion');
  });

  it('another key does not verify: an upstream checking the signature refuses a forgery', async () => {
    const other = await startGateway({
      upstream: env.upstream.url,
      config: { log: { level: 'warn' }, headers: { assertion: { enabled: true, audience: 'legacy-app' } } },
    });
    try {
      const t = (
        await postForm(other.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, { authorization: basicAuth() })
      ).json.access_token as string;
      const jwt = (
        (await (await fetch(`${other.url}/api/x`, { headers: { authorization: `Bearer ${t}` } })).json()) as {
          headers: Record<string, string>;
        }
      ).headers['x-auth-assertion'] as string;
      await expect(
        jwtVerify(jwt, createRemoteJWKSet(new URL(`${env.gw.adminUrl}/jwks.json`)), { audience: 'legacy-app' }),
      ).rejects.toThrow();
    } finally {
      await other.stop();
    }
  });
});
