/**
 * OpenID Connect on the password grant with openid-client v6 (docs/token-formats.md, "OpenID
 * Connect"): OIDC discovery (/.well-known/openid-configuration), the ID token validated by the
 * library — signature against jwks_uri (enableNonRepudiationChecks), iss, aud, exp, iat — the
 * UserInfo endpoint, and what refresh and revocation do. Both access token formats.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { hashSecret } from '../../src/security/password-hash.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { freePort } from '../support/ports.js';
import { startGateway, USERS, type TestGateway } from '../support/start-gateway.js';

const CLIENT = { id: 'oidc:client', secret: 'ab+cd/ef==' } as const;
const OPAQUE = { id: 'oidc-opaque', secret: 'opaque-secret' } as const;
const USER = USERS.alice;

let upstream: Upstream;
let gw: TestGateway;
let issuer = '';

beforeAll(async () => {
  upstream = await startEchoUpstream();
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      server: { port },
      oauth: { issuer },
      clients: [
        {
          id: CLIENT.id,
          secretHash: await hashSecret(CLIENT.secret),
          scopes: ['openid', 'profile', 'email', 'read'],
          defaultScopes: ['read'],
          accessTokenFormat: 'jwt',
        },
        { id: OPAQUE.id, secretHash: await hashSecret(OPAQUE.secret), scopes: ['openid', 'email'], defaultScopes: ['openid'] },
      ],
    },
  });
  await gw.reloadUsers([
    {
      username: USER.username,
      passwordHash: await hashSecret(USER.password),
      groups: [...USER.groups],
      attributes: {
        name: 'Alice Liddell',
        preferred_username: 'alice',
        email: 'alice@example.org',
        email_verified: 'true',
        department: 'wonder',
      },
    } as never,
  ]);
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

async function discover(client: { id: string; secret: string }): Promise<oidc.Configuration> {
  const config = await oidc.discovery(new URL(issuer), client.id, undefined, oidc.ClientSecretBasic(client.secret), {
    execute: [oidc.allowInsecureRequests],
  });
  // Verify the ID token's signature too (OIDC Core §3.1.3.7 allows skipping it over TLS).
  oidc.enableNonRepudiationChecks(config);
  return config;
}

const login = (config: oidc.Configuration, scope: string) =>
  oidc.genericGrantRequest(config, 'password', { username: USER.username, password: USER.password, scope });

describe('OpenID Connect with openid-client', () => {
  it('discovers the OpenID Provider metadata beside the RFC 8414 document', async () => {
    const config = await discover(CLIENT);
    const meta = config.serverMetadata();
    expect(meta).toMatchObject({
      issuer,
      userinfo_endpoint: `${issuer}/userinfo`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['ES256'],
      subject_types_supported: ['public'],
    });
  });

  it('returns an ID token the library validates, with auth_time, amr and the claims of the granted scopes', async () => {
    const config = await discover(CLIENT);
    const before = Math.floor(Date.now() / 1000);
    const tokens = await login(config, 'openid profile email');
    const claims = tokens.claims();
    expect(claims).toMatchObject({
      iss: issuer,
      sub: USER.username,
      aud: CLIENT.id,
      amr: ['pwd'],
      name: 'Alice Liddell',
      preferred_username: 'alice',
      email: 'alice@example.org',
      email_verified: true,
    });
    expect(claims?.auth_time).toBeGreaterThanOrEqual(before);
    expect(claims).not.toHaveProperty('department');

    const info = await oidc.fetchUserInfo(config, tokens.access_token, USER.username);
    expect(info).toEqual({
      sub: USER.username,
      name: 'Alice Liddell',
      preferred_username: 'alice',
      email: 'alice@example.org',
      email_verified: true,
    });
  });

  it('releases only the claims of the scopes granted', async () => {
    const config = await discover(CLIENT);
    const tokens = await login(config, 'openid email');
    expect(tokens.claims()).toMatchObject({ email: 'alice@example.org' });
    expect(tokens.claims()).not.toHaveProperty('name');
    expect(await oidc.fetchUserInfo(config, tokens.access_token, USER.username)).toEqual({
      sub: USER.username,
      email: 'alice@example.org',
      email_verified: true,
    });
  });

  it('gives no ID token without openid, and UserInfo refuses such an access token (insufficient_scope)', async () => {
    const config = await discover(CLIENT);
    const tokens = await login(config, 'read');
    expect(tokens.id_token).toBeUndefined();
    const err = await oidc.fetchUserInfo(config, tokens.access_token, oidc.skipSubjectCheck).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    expect((err as oidc.WWWAuthenticateChallengeError).cause[0]?.parameters.error).toBe('insufficient_scope');
  });

  it('does not reissue the ID token on refresh; revocation ends UserInfo (invalid_token)', async () => {
    const config = await discover(CLIENT);
    const tokens = await login(config, 'openid email');
    const refreshed = await oidc.refreshTokenGrant(config, String(tokens.refresh_token));
    expect(refreshed.id_token).toBeUndefined();
    expect(await oidc.fetchUserInfo(config, refreshed.access_token, USER.username)).toMatchObject({ sub: USER.username });

    await oidc.tokenRevocation(config, String(refreshed.refresh_token));
    const err = await oidc.fetchUserInfo(config, refreshed.access_token, USER.username).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    expect((err as oidc.WWWAuthenticateChallengeError).cause[0]?.parameters.error).toBe('invalid_token');
  });

  it('works the same for a client with opaque access tokens', async () => {
    const config = await discover(OPAQUE);
    const tokens = await login(config, 'openid email');
    expect(tokens.access_token).toMatch(/^[A-Za-z0-9_-]{65}$/);
    expect(tokens.claims()).toMatchObject({ sub: USER.username, aud: OPAQUE.id, email: 'alice@example.org' });
    expect(await oidc.fetchUserInfo(config, tokens.access_token, USER.username)).toEqual({
      sub: USER.username,
      email: 'alice@example.org',
      email_verified: true,
    });
  });
});
