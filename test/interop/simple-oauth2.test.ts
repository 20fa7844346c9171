/**
 * simple-oauth2 (hapi) against the gateway: password grant (ResourceOwnerPassword), refresh,
 * revocation, with each of its client authentication settings — Basic form-encoded
 * (`credentialsEncodingMode: 'strict'`, its default), Basic raw (`'loose'`), and the body —
 * and a public client with an empty secret, which it sends as `Basic base64(id:)`. It has no
 * discovery and no introspection; the proxy is called with fetch and its access token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResourceOwnerPassword, type ModuleOptions } from 'simple-oauth2';
import { CONFIDENTIAL, identityOf, PUBLIC, startInteropGateway, USER, type InteropGateway } from './harness.js';

let gw: InteropGateway;

beforeAll(async () => {
  gw = await startInteropGateway();
});
afterAll(async () => {
  await gw?.stop();
});

function clientFor(id: string, secret: string, options: ModuleOptions['options']): ResourceOwnerPassword {
  return new ResourceOwnerPassword({
    client: { id, secret },
    auth: { tokenHost: gw.issuer, tokenPath: '/as/token.oauth2', revokePath: '/as/revoke_token.oauth2' },
    options,
  });
}

async function onProxy(token: unknown): Promise<{ status: number; echo: unknown }> {
  const res = await fetch(gw.resourceUrl, { headers: { authorization: `Bearer ${String(token)}` } });
  return { status: res.status, echo: res.status === 200 ? await res.json() : undefined };
}

const settings: Array<[string, string, string, ModuleOptions['options']]> = [
  [
    'Basic, form-encoded (strict, the default)',
    CONFIDENTIAL.id,
    CONFIDENTIAL.secret,
    { authorizationMethod: 'header', credentialsEncodingMode: 'strict' },
  ],
  ['Basic, raw (loose)', CONFIDENTIAL.id, CONFIDENTIAL.secret, { authorizationMethod: 'header', credentialsEncodingMode: 'loose' }],
  ['body (client_secret_post)', CONFIDENTIAL.id, CONFIDENTIAL.secret, { authorizationMethod: 'body' }],
  ['public client, Basic with an empty secret', PUBLIC.id, '', { authorizationMethod: 'header' }],
  ['public client, body with an empty secret', PUBLIC.id, '', { authorizationMethod: 'body' }],
];

describe('simple-oauth2', () => {
  for (const [name, id, secret, options] of settings) {
    it(`${name}: password grant, proxy, refresh, revocation`, async () => {
      const client = clientFor(id, secret, options);
      const token = await client.getToken({ username: USER.username, password: USER.password, scope: 'read' });
      const first = await onProxy(token.token.access_token);
      expect(first.status).toBe(200);
      expect(identityOf(first.echo)).toEqual({ subject: USER.username, clientId: id });

      const refreshed = await token.refresh();
      expect(refreshed.token.access_token).not.toBe(token.token.access_token);
      expect((await onProxy(refreshed.token.access_token)).status).toBe(200);

      await refreshed.revokeAll();
      expect((await onProxy(refreshed.token.access_token)).status).toBe(401);
    });
  }

  it('surfaces invalid_client for a wrong secret in the body', async () => {
    const err = (await clientFor(CONFIDENTIAL.id, 'wrong', { authorizationMethod: 'body' })
      .getToken({ username: USER.username, password: USER.password })
      .catch((e: unknown) => e)) as { output?: { statusCode: number }; data?: { payload?: { error?: string } } };
    expect(err.output?.statusCode).toBe(400);
    expect(err.data?.payload?.error).toBe('invalid_client');
  });
});
