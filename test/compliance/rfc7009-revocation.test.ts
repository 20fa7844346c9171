/**
 * RFC 7009 — OAuth 2.0 Token Revocation, at `oauth.paths.revocation`. Each test quotes the
 * text it checks. Real gateway, real HTTP client, real redis-server.
 */
import { describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';
import { deadPort } from '../support/echo-upstream.js';

const env = useGateway({ redis: true });

interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
}

async function login(client = 'app'): Promise<Tokens> {
  const res = await env.password('joe', { client });
  expect(res.status).toBe(200);
  return res.json as unknown as Tokens;
}
const refresh = (token: string, client = 'app') => env.refresh(token, { client });
const revoke = (body: string, client = 'app') => postForm(env.gw.revocationUrl, body, { authorization: basicAuth(client) });
const resource = async (token: string): Promise<number> =>
  (await fetch(`${env.gw.url}/api`, { headers: { authorization: `Bearer ${token}` } })).status;

// §2.2: "The content of the response body is ignored by the client as all necessary
// information is conveyed in the response code." The body is `{}` as JSON, for clients that
// refuse a body that is not JSON (simple-oauth2).
function expectRevoked200(res: { status: number; headers: Headers; text: string }): void {
  expect(res.status).toBe(200);
  expect(res.text).toBe('{}');
  expect(res.headers.get('content-type')).toBe('application/json;charset=UTF-8');
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('pragma')).toBe('no-cache');
}

describe('RFC 7009 §2.1 revocation request', () => {
  // "The client requests the revocation of a particular token by making an HTTP POST request
  //  to the token revocation endpoint URL."
  it('accepts POST only', async () => {
    const res = await fetch(env.gw.revocationUrl, { headers: { authorization: basicAuth() } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'use POST' });
  });

  // "... using the "application/x-www-form-urlencoded" format in the HTTP request entity-body"
  it('accepts the form content type only', async () => {
    const res = await fetch(env.gw.revocationUrl, {
      method: 'POST',
      headers: { authorization: basicAuth(), 'content-type': 'application/json' },
      body: '{"token":"x"}',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  // "token REQUIRED. The token that the client wants to get revoked."
  it('requires the token parameter', async () => {
    const res = await revoke('token_type_hint=access_token');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_request', error_description: 'missing parameter: token' });
  });

  // "The client also includes its authentication credentials as described in Section 2.3. of
  //  [RFC6749]." / §2.2.1 "The error presentation conforms to the definition in Section 5.2 of
  //  [RFC6749]."
  it('authenticates the client: 401 invalid_client with a Basic challenge otherwise', async () => {
    const { access_token } = await login();
    // RFC 6749 §5.2: 401 and a challenge where the Authorization header was used (or nothing
    // was sent); 400 and none where the client authenticated in the body.
    const body = await postForm(env.gw.revocationUrl, `token=${access_token}&client_id=app&client_secret=wrong`);
    expect(body.status).toBe(400);
    expect(body.json.error).toBe('invalid_client');
    expect(body.headers.get('www-authenticate')).toBeNull();
    for (const headers of [{}, { authorization: basicAuth('app', 'wrong') }, { authorization: basicAuth('nobody') }]) {
      const res = await postForm(env.gw.revocationUrl, `token=${access_token}`, headers);
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_client');
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
    }
    expect(await resource(access_token)).toBe(200);
  });

  // §5: "a client's request must contain a valid client_id, in the case of a public client, or
  //  valid client credentials, in the case of a confidential client."
  it('lets a public client revoke its own token with its client_id', async () => {
    const tokens = await login('spa');
    expectRevoked200(await postForm(env.gw.revocationUrl, `token=${tokens.refresh_token}&client_id=spa`));
    expect(await resource(tokens.access_token)).toBe(401);
  });
});

describe('RFC 7009 §2.1 what is revoked', () => {
  // "If the particular token is a refresh token and the authorization server supports the
  //  revocation of access tokens, then the authorization server SHOULD also invalidate all
  //  access tokens based on the same authorization grant"
  it('revoking a refresh token revokes its whole family, access tokens of earlier refreshes too', async () => {
    const first = await login();
    const second = (await refresh(first.refresh_token)).json as unknown as Tokens;
    expect(await resource(second.access_token)).toBe(200);
    expectRevoked200(await revoke(`token=${second.refresh_token}&token_type_hint=refresh_token`));
    expect(await resource(first.access_token)).toBe(401);
    expect(await resource(second.access_token)).toBe(401);
    expect((await refresh(second.refresh_token)).json.error).toBe('invalid_grant');
  });

  // "If the token passed to the request is an access token, the server MAY revoke the
  //  respective refresh token as well." — this server does not: see docs/security.md.
  it('revoking an access token revokes that token only', async () => {
    const first = await login();
    const second = (await refresh(first.refresh_token)).json as unknown as Tokens;
    expectRevoked200(await revoke(`token=${first.access_token}&token_type_hint=access_token`));
    expect(await resource(first.access_token)).toBe(401);
    expect(await resource(second.access_token)).toBe(200);
    expect((await refresh(second.refresh_token)).status).toBe(200);
  });

  it('revoking an already rotated refresh token still revokes the family', async () => {
    const first = await login();
    const second = (await refresh(first.refresh_token)).json as unknown as Tokens;
    expectRevoked200(await revoke(`token=${first.refresh_token}`));
    expect(await resource(second.access_token)).toBe(401);
    expect((await refresh(second.refresh_token)).json.error).toBe('invalid_grant');
  });

  // "token_type_hint OPTIONAL ... If the server is unable to locate the token using the given
  //  hint, it MUST extend its search across all of its supported token types."
  // §2.2 "An invalid token type hint value is ignored by the authorization server and does not
  //  influence the revocation response."
  it('ignores a wrong or unknown token_type_hint', async () => {
    const a = await login();
    expectRevoked200(await revoke(`token=${a.access_token}&token_type_hint=refresh_token`));
    expect(await resource(a.access_token)).toBe(401);
    const b = await login();
    expectRevoked200(await revoke(`token=${b.refresh_token}&token_type_hint=id_token`));
    expect((await refresh(b.refresh_token)).json.error).toBe('invalid_grant');
  });

  // "The authorization server first validates the client credentials ... and then verifies
  //  whether the token was issued to the client making the revocation request." / §5 "The
  //  token being revoked must also belong to the requesting client."
  // A token of another client is treated as an invalid token (§2.2): 200, nothing revoked, so
  // a client learns nothing about tokens it should not hold (docs/security.md).
  it('revokes nothing for another client, and answers as for an invalid token', async () => {
    const tokens = await login('app');
    expectRevoked200(await revoke(`token=${tokens.refresh_token}`, 'other'));
    expectRevoked200(await revoke(`token=${tokens.access_token}`, 'other'));
    expectRevoked200(await postForm(env.gw.revocationUrl, `token=${tokens.access_token}&client_id=spa`));
    expect(await resource(tokens.access_token)).toBe(200);
    expect((await refresh(tokens.refresh_token)).status).toBe(200);
    expect(env.gw.logs().some((l) => l.event === 'revocation_foreign_token' && l.clientId === 'other')).toBe(true);
  });
});

describe('RFC 7009 §2.2 revocation response', () => {
  // "The authorization server responds with HTTP status code 200 if the token has been revoked
  //  successfully or if the client submitted an invalid token. Note: invalid tokens do not
  //  cause an error response ... The content of the response body is ignored by the client"
  it('answers the same 200 {} for unknown, malformed and already revoked tokens', async () => {
    const tokens = await login();
    expectRevoked200(await revoke(`token=${tokens.refresh_token}`));
    expectRevoked200(await revoke(`token=${tokens.refresh_token}`));
    expectRevoked200(await revoke(`token=${'A'.repeat(65)}`));
    expectRevoked200(await revoke('token=not-a-token'));
  });

  it('never logs the token', async () => {
    const tokens = await login();
    await revoke(`token=${tokens.refresh_token}`);
    expect(env.gw.logText()).not.toContain(tokens.refresh_token);
    expect(env.gw.logText()).not.toContain(tokens.refresh_token.slice(22));
    expect(env.gw.logs().some((l) => l.event === 'token_revoked' && l.revoked === 'family' && l.sub === 'joe')).toBe(true);
  });
});

describe('RFC 7009 §2.2.1 error response', () => {
  // "If the server responds with HTTP status code 503, the client must assume the token still
  //  exists and may retry after a reasonable delay. The server may include a "Retry-After"
  //  header in the response"
  it('answers 503 temporarily_unavailable with Retry-After when the store is down', async () => {
    const down = await startGateway({ upstream: env.upstream.url, redisUrl: `redis://127.0.0.1:${await deadPort()}` });
    try {
      const res = await postForm(down.revocationUrl, `token=${'A'.repeat(65)}`, { authorization: basicAuth() });
      expect(res.status).toBe(503);
      expect(res.json.error).toBe('temporarily_unavailable');
      expect(res.headers.get('retry-after')).toBeTruthy();
    } finally {
      await down.stop();
    }
  });
});
