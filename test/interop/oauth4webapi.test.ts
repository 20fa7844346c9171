/**
 * oauth4webapi (panva) against the gateway: discovery (RFC 8414), password grant, refresh,
 * the proxy, revocation (RFC 7009), introspection (RFC 7662), a public client, and how a
 * refused client surfaces. See docs/client-libraries.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { CONFIDENTIAL, identityOf, PUBLIC, startInteropGateway, USER, type InteropGateway } from './harness.js';

let gw: InteropGateway;
let as: oauth.AuthorizationServer;
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const client: oauth.Client = { client_id: CONFIDENTIAL.id };
const basic = oauth.ClientSecretBasic(CONFIDENTIAL.secret);

beforeAll(async () => {
  gw = await startInteropGateway();
});
afterAll(async () => {
  await gw?.stop();
});

async function passwordGrant(c: oauth.Client, auth: oauth.ClientAuth, scope = 'read edit') {
  const params = new URLSearchParams({ username: USER.username, password: USER.password, scope });
  const res = await oauth.genericTokenEndpointRequest(as, c, auth, 'password', params, insecure);
  return oauth.processGenericTokenEndpointResponse(as, c, res);
}

async function onProxy(token: string): Promise<Response> {
  return oauth.protectedResourceRequest(token, 'GET', new URL(gw.resourceUrl), undefined, undefined, insecure);
}

/** A refused token: oauth4webapi raises the RFC 6750 Bearer challenge; returns its error code. */
async function refusedOnProxy(token: string): Promise<unknown> {
  const err = await onProxy(token).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
  const challenge = (err as oauth.WWWAuthenticateChallengeError).cause[0];
  expect(challenge?.scheme).toBe('bearer');
  return challenge?.parameters.error;
}

describe('oauth4webapi', () => {
  it('discovers the server (RFC 8414)', async () => {
    const issuer = new URL(gw.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    expect(as.token_endpoint).toBe(gw.tokenUrl);
    expect(as.revocation_endpoint).toBe(gw.revocationUrl);
    expect(as.introspection_endpoint).toBe(gw.introspectionUrl);
  });

  it('runs password grant, proxy, refresh, introspection and revocation with client_secret_basic', async () => {
    const tokens = await passwordGrant(client, basic);
    expect(tokens.token_type).toBe('bearer');
    const echo = await onProxy(tokens.access_token);
    expect(echo.status).toBe(200);
    expect(identityOf(await echo.json())).toEqual({ subject: USER.username, clientId: CONFIDENTIAL.id });

    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, basic, String(tokens.refresh_token), insecure),
    );
    expect(refreshed.access_token).not.toBe(tokens.access_token);

    const info = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, basic, refreshed.access_token, insecure),
    );
    expect(info).toMatchObject({ active: true, client_id: CONFIDENTIAL.id, sub: USER.username });

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, basic, String(refreshed.refresh_token), insecure));
    expect(await refusedOnProxy(refreshed.access_token)).toBe('invalid_token');
    const after = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, basic, refreshed.access_token, insecure),
    );
    expect(after.active).toBe(false);
  });

  it('authenticates with client_secret_post', async () => {
    const tokens = await passwordGrant(client, oauth.ClientSecretPost(CONFIDENTIAL.secret));
    expect((await onProxy(tokens.access_token)).status).toBe(200);
  });

  it('runs a public client (method none): grant, refresh, revocation', async () => {
    const pub: oauth.Client = { client_id: PUBLIC.id };
    const none = oauth.None();
    const tokens = await passwordGrant(pub, none, 'read');
    expect(identityOf(await (await onProxy(tokens.access_token)).json()).clientId).toBe(PUBLIC.id);
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      pub,
      await oauth.refreshTokenGrantRequest(as, pub, none, String(tokens.refresh_token), insecure),
    );
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, pub, none, String(refreshed.refresh_token), insecure));
    expect(await refusedOnProxy(refreshed.access_token)).toBe('invalid_token');
  });

  it('surfaces invalid_client for a wrong client_secret_post secret (no challenge, RFC 6749 §5.2)', async () => {
    const err = await passwordGrant(client, oauth.ClientSecretPost('wrong')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.ResponseBodyError);
    expect((err as oauth.ResponseBodyError).error).toBe('invalid_client');
    expect((err as oauth.ResponseBodyError).status).toBe(400);
  });

  it('surfaces the 401 Basic challenge for a wrong client_secret_basic secret (the RFC requires it)', async () => {
    const err = await passwordGrant(client, oauth.ClientSecretBasic('wrong')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect((err as oauth.WWWAuthenticateChallengeError).status).toBe(401);
    expect((err as oauth.WWWAuthenticateChallengeError).cause[0]?.scheme).toBe('basic');
  });
});
