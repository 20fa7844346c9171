/**
 * openid-client v6 (panva; built on oauth4webapi) against the gateway: discovery with the
 * RFC 8414 algorithm, password grant (genericGrantRequest), refresh, the proxy, revocation,
 * introspection, a public client, and how a refused client surfaces. docs/client-libraries.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { CONFIDENTIAL, identityOf, PUBLIC, startInteropGateway, USER, type InteropGateway } from './harness.js';

let gw: InteropGateway;

beforeAll(async () => {
  gw = await startInteropGateway();
});
afterAll(async () => {
  await gw?.stop();
});

function discover(clientId: string, auth: oidc.ClientAuth): Promise<oidc.Configuration> {
  // algorithm 'oauth2': /.well-known/oauth-authorization-server (RFC 8414), not OIDC discovery.
  return oidc.discovery(new URL(gw.issuer), clientId, undefined, auth, { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] });
}

function passwordGrant(config: oidc.Configuration, scope = 'read edit') {
  return oidc.genericGrantRequest(config, 'password', { username: USER.username, password: USER.password, scope });
}

async function onProxy(config: oidc.Configuration, token: string): Promise<unknown> {
  const res = await oidc.fetchProtectedResource(config, token, new URL(gw.resourceUrl), 'GET');
  expect(res.status).toBe(200);
  return res.json();
}

async function refusedOnProxy(config: oidc.Configuration, token: string): Promise<unknown> {
  const err = await oidc.fetchProtectedResource(config, token, new URL(gw.resourceUrl), 'GET').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
  return (err as oidc.WWWAuthenticateChallengeError).cause[0]?.parameters.error;
}

describe('openid-client', () => {
  it('discovers, then runs password grant, proxy, refresh, introspection and revocation with client_secret_basic', async () => {
    const config = await discover(CONFIDENTIAL.id, oidc.ClientSecretBasic(CONFIDENTIAL.secret));
    expect(config.serverMetadata().token_endpoint).toBe(gw.tokenUrl);
    const tokens = await passwordGrant(config);
    expect(identityOf(await onProxy(config, tokens.access_token))).toEqual({ subject: USER.username, clientId: CONFIDENTIAL.id });

    const refreshed = await oidc.refreshTokenGrant(config, String(tokens.refresh_token));
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(await oidc.tokenIntrospection(config, refreshed.access_token)).toMatchObject({
      active: true,
      client_id: CONFIDENTIAL.id,
      sub: USER.username,
    });

    await oidc.tokenRevocation(config, String(refreshed.refresh_token));
    expect(await refusedOnProxy(config, refreshed.access_token)).toBe('invalid_token');
    expect((await oidc.tokenIntrospection(config, refreshed.access_token)).active).toBe(false);
  });

  it('authenticates with client_secret_post (its default when a secret is given)', async () => {
    const config = await oidc.discovery(new URL(gw.issuer), CONFIDENTIAL.id, CONFIDENTIAL.secret, undefined, {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    const tokens = await passwordGrant(config);
    expect(identityOf(await onProxy(config, tokens.access_token)).clientId).toBe(CONFIDENTIAL.id);
  });

  it('runs a public client (method none): grant, refresh, revocation', async () => {
    const config = await discover(PUBLIC.id, oidc.None());
    const tokens = await passwordGrant(config, 'read');
    expect(identityOf(await onProxy(config, tokens.access_token)).clientId).toBe(PUBLIC.id);
    const refreshed = await oidc.refreshTokenGrant(config, String(tokens.refresh_token));
    await oidc.tokenRevocation(config, String(refreshed.refresh_token));
    expect(await refusedOnProxy(config, refreshed.access_token)).toBe('invalid_token');
  });

  it('surfaces invalid_client for a wrong client_secret_post secret (no challenge, RFC 6749 §5.2)', async () => {
    const config = await discover(CONFIDENTIAL.id, oidc.ClientSecretPost('wrong'));
    const err = await passwordGrant(config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oidc.ResponseBodyError);
    expect((err as oidc.ResponseBodyError).error).toBe('invalid_client');
  });

  it('surfaces the 401 Basic challenge for a wrong client_secret_basic secret (the RFC requires it)', async () => {
    const config = await discover(CONFIDENTIAL.id, oidc.ClientSecretBasic('wrong'));
    const err = await passwordGrant(config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    expect((err as oidc.WWWAuthenticateChallengeError).cause[0]?.scheme).toBe('basic');
  });
});
