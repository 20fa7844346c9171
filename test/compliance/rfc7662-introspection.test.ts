/**
 * RFC 7662 — OAuth 2.0 Token Introspection, at `oauth.paths.introspection`. Each test quotes
 * the text it checks. Real gateway, real HTTP client, real redis-server.
 */
import { describe, expect, it } from 'vitest';
import { basicAuth, CLIENT, postForm } from '../support/start-gateway.js';
import { hashSecret } from '../../src/security/password-hash.js';
import { useGateway } from '../support/use-gateway.js';

const ISSUER = 'https://as.example.com';
const env = useGateway({
  redis: true,
  config: async () => {
    const secretHash = await hashSecret(CLIENT.secret);
    return {
      oauth: { issuer: ISSUER },
      clients: [
        { id: 'app', secretHash, scopes: ['read', 'edit', 'admin'], defaultScopes: ['read'] },
        { id: 'other', secretHash, scopes: ['read'], defaultScopes: ['read'] },
        { id: 'spa', public: true, scopes: ['read'], defaultScopes: ['read'] },
        // A resource server: no grants of its own, introspects every client's access tokens.
        { id: 'api', secretHash, grantTypes: [], introspectAnyToken: true },
      ],
    };
  },
});
const introspectUrl = (): string => `${env.gw.url}/as/introspect.oauth2`;

interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
}

async function login(scope = 'read edit'): Promise<Tokens> {
  const res = await env.password('joe', { scope });
  expect(res.status).toBe(200);
  return res.json as unknown as Tokens;
}
const introspect = (body: string, client = 'app') => postForm(introspectUrl(), body, { authorization: basicAuth(client) });
const INACTIVE = '{"active":false}';

describe('RFC 7662 §2.1 introspection request', () => {
  // "The protected resource calls the introspection endpoint using an HTTP POST request with
  //  parameters sent as "application/x-www-form-urlencoded" data"
  it('accepts POST with a form only', async () => {
    const get = await fetch(introspectUrl(), { headers: { authorization: basicAuth() } });
    expect(get.status).toBe(405);
    const json = await fetch(introspectUrl(), {
      method: 'POST',
      headers: { authorization: basicAuth(), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: string }).error).toBe('invalid_request');
  });

  // "token REQUIRED. The string value of the token."
  it('requires the token parameter', async () => {
    const res = await introspect('token_type_hint=access_token');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_request', error_description: 'missing parameter: token' });
  });

  // "To prevent token scanning attacks, the endpoint MUST also require some form of
  //  authorization to access this endpoint, such as client authentication"
  // §2.3 "If the protected resource uses OAuth 2.0 client credentials to authenticate to the
  //  introspection endpoint and its credentials are invalid, the authorization server responds
  //  with an HTTP 401 (Unauthorized) as described in Section 5.2 of OAuth 2.0 [RFC6749]."
  it('answers invalid_client without valid client credentials, and to public clients', async () => {
    const { access_token } = await login();
    // RFC 6749 §5.2: 401 and a challenge where the Authorization header was used (or nothing
    // was sent); 400 and none where the client authenticated in the body.
    const body = await postForm(introspectUrl(), `token=${access_token}&client_id=app&client_secret=wrong`);
    expect(body.status).toBe(400);
    expect(body.json.error).toBe('invalid_client');
    expect(body.headers.get('www-authenticate')).toBeNull();
    for (const headers of [{}, { authorization: basicAuth('app', 'wrong') }, { authorization: basicAuth('nobody') }]) {
      const res = await postForm(introspectUrl(), `token=${access_token}`, headers);
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_client');
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
    }
    const pub = await postForm(introspectUrl(), `token=${access_token}&client_id=spa`);
    expect(pub.status).toBe(400);
    expect(pub.json.error).toBe('invalid_client');
    const pubBasic = await postForm(introspectUrl(), `token=${access_token}`, { authorization: basicAuth('spa', '') });
    expect(pubBasic.status).toBe(401);
    expect(pubBasic.json.error).toBe('invalid_client');
    expect(pubBasic.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
  });
});

describe('RFC 7662 §2.2 introspection response', () => {
  // "active REQUIRED. Boolean indicator of whether or not the presented token is currently
  //  active." ... "scope", "client_id", "token_type", "exp", "iat", "sub", "iss" OPTIONAL;
  // "Specific implementations MAY extend this structure with their own service-specific
  //  response names as top-level members of this JSON object." (groups)
  it('describes an active access token to its own client', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { access_token } = await login('edit read');
    const res = await introspect(`token=${access_token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json;charset=UTF-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toEqual({
      active: true,
      scope: 'edit read',
      client_id: 'app',
      sub: 'joe',
      exp: expect.any(Number),
      iat: expect.any(Number),
      iss: ISSUER,
      token_type: 'Bearer',
      groups: ['editors'],
    });
    expect(res.json.iat).toBeGreaterThanOrEqual(before);
    expect(res.json.exp).toBe((res.json.iat as number) + 14400);
  });

  // "token_type OPTIONAL. Type of the token as defined in Section 5.1 of OAuth 2.0" — a refresh
  // token is no access token of any type: N_A (RFC 8693 §2.2.1), visible to its own client only.
  it('describes the current refresh token to its own client with token_type N_A', async () => {
    const tokens = await login();
    const res = await introspect(`token=${tokens.refresh_token}&token_type_hint=refresh_token`);
    expect(res.json).toMatchObject({ active: true, client_id: 'app', sub: 'joe', token_type: 'N_A', scope: 'read edit' });
    expect(res.json.exp).toBe((res.json.iat as number) + 2592000);
  });

  // §2.1 "token_type_hint OPTIONAL ... If the server is unable to locate the token using the
  //  given hint, it MUST extend its search across all of its supported token types."
  it('ignores a wrong token_type_hint', async () => {
    const tokens = await login();
    expect((await introspect(`token=${tokens.access_token}&token_type_hint=refresh_token`)).json.active).toBe(true);
    expect((await introspect(`token=${tokens.refresh_token}&token_type_hint=access_token`)).json.active).toBe(true);
    expect((await introspect(`token=${tokens.access_token}&token_type_hint=bogus`)).json.active).toBe(true);
  });

  // "If the introspection call is properly authorized but the token is not active, does not
  //  exist on this server, or the protected resource is not allowed to introspect this
  //  particular token, then the authorization server MUST return an introspection response
  //  with the "active" field set to "false". Note that to avoid disclosing too much of the
  //  authorization server's state to a third party, the authorization server SHOULD NOT
  //  include any additional information about an inactive token"
  it('answers exactly {"active":false} for unknown, malformed, revoked and rotated tokens', async () => {
    for (const token of ['A'.repeat(65), 'not-a-token']) {
      const res = await introspect(`token=${token}`);
      expect(res.status).toBe(200);
      expect(res.text).toBe(INACTIVE);
    }
    const first = await login();
    const second = await env.token(`grant_type=refresh_token&refresh_token=${first.refresh_token}`, { client: 'app' });
    expect(second.status).toBe(200);
    expect((await introspect(`token=${first.refresh_token}`)).text).toBe(INACTIVE);
    // The access token of before the refresh stays active (rotation does not end it).
    expect((await introspect(`token=${first.access_token}`)).json.active).toBe(true);
    await postForm(env.gw.revocationUrl, `token=${second.json.refresh_token as string}`, { authorization: basicAuth('app') });
    for (const token of [first.access_token, second.json.access_token as string, second.json.refresh_token as string]) {
      expect((await introspect(`token=${token}`)).text).toBe(INACTIVE);
    }
  });

  it('answers {"active":false} to another client, and lets a resource server see access tokens only', async () => {
    const tokens = await login();
    expect((await introspect(`token=${tokens.access_token}`, 'other')).text).toBe(INACTIVE);
    expect((await introspect(`token=${tokens.refresh_token}`, 'other')).text).toBe(INACTIVE);
    const rs = await introspect(`token=${tokens.access_token}`, 'api');
    expect(rs.json).toMatchObject({ active: true, client_id: 'app', sub: 'joe', token_type: 'Bearer' });
    // A refresh token is for its client alone: never active to a resource server.
    expect((await introspect(`token=${tokens.refresh_token}`, 'api')).text).toBe(INACTIVE);
  });

  it('never logs the token', async () => {
    const tokens = await login();
    await introspect(`token=${tokens.access_token}`, 'api');
    expect(env.gw.logText()).not.toContain(tokens.access_token.slice(22));
  });
});
