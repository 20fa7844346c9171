/**
 * RFC 8414 — OAuth 2.0 Authorization Server Metadata, at `oauth.paths.metadata`. Each test
 * quotes the text it checks. Real gateway and HTTP client; the endpoints it names are called.
 */
import { describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';
import { authorizationServerMetadata } from '../../src/token-endpoint/metadata.js';
import type { ClientConfig, GatewayConfig } from '../../src/config/types.js';

const ISSUER = 'https://as.example.com';
const env = useGateway({ config: { oauth: { issuer: ISSUER } } });

const wellKnown = () => `${env.gw.url}/.well-known/oauth-authorization-server`;
/** An endpoint URL of the metadata, pointed at the test gateway. */
const local = (url: unknown): string => `${env.gw.url}${new URL(String(url)).pathname}`;

describe('RFC 8414 §3 obtaining the metadata', () => {
  // "Authorization servers supporting metadata MUST make a JSON document containing metadata
  //  as specified in Section 2 available at a path formed by inserting a well-known URI string
  //  into the authorization server's issuer identifier ... "/.well-known/oauth-authorization-server""
  // §3.2 "A successful response MUST use the 200 OK HTTP status code and return a JSON object
  //  using the "application/json" content type"
  it('serves a JSON document at /.well-known/oauth-authorization-server', async () => {
    const res = await fetch(wellKnown());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json;charset=UTF-8');
    expect(await res.json()).toEqual({
      issuer: ISSUER,
      token_endpoint: `${ISSUER}/as/token.oauth2`,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      grant_types_supported: ['password', 'refresh_token'],
      response_types_supported: ['none'],
      scopes_supported: ['admin', 'edit', 'read'],
      revocation_endpoint: `${ISSUER}/as/revoke_token.oauth2`,
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      introspection_endpoint: `${ISSUER}/as/introspect.oauth2`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    });
  });

  // §3.1 "An authorization server metadata document MUST be queried using an HTTP "GET"
  //  request at the previously specified path." (HEAD: the same answer without a body.)
  it('answers GET and HEAD, and 405 to other methods', async () => {
    const head = await fetch(wellKnown(), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(wellKnown(), { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  // §3.3 "The "issuer" value returned MUST be identical to the authorization server's issuer
  //  identifier value into which the well-known URI string was inserted to create the URL used
  //  to retrieve the metadata."
  it('returns the configured issuer identically', async () => {
    expect(((await (await fetch(wellKnown())).json()) as { issuer: string }).issuer).toBe(ISSUER);
  });
});

describe('RFC 8414 §2 metadata values', () => {
  // "token_endpoint URL of the authorization server's token endpoint [RFC6749]."
  // "revocation_endpoint OPTIONAL. URL of the authorization server's OAuth 2.0 revocation endpoint [RFC7009]."
  // "introspection_endpoint OPTIONAL. URL of the authorization server's OAuth 2.0 introspection endpoint [RFC7662]."
  it('names endpoints that work, with the grant types and auth methods it lists', async () => {
    const meta = (await (await fetch(wellKnown())).json()) as Record<string, unknown>;
    const token = await postForm(local(meta.token_endpoint), `grant_type=password&username=joe&password=${USERS.joe.password}`, {
      authorization: basicAuth(),
    });
    expect(token.status).toBe(200);
    const refreshed = await postForm(
      local(meta.token_endpoint),
      `grant_type=refresh_token&refresh_token=${token.json.refresh_token as string}&client_id=app&client_secret=app-secret`,
    );
    expect(refreshed.status).toBe(200);
    const introspected = await postForm(local(meta.introspection_endpoint), `token=${refreshed.json.access_token as string}`, {
      authorization: basicAuth(),
    });
    expect(introspected.json.active).toBe(true);
    const revoked = await postForm(local(meta.revocation_endpoint), `token=${refreshed.json.refresh_token as string}`, {
      authorization: basicAuth(),
    });
    expect(revoked.status).toBe(200);
    expect(
      (await postForm(local(meta.introspection_endpoint), `token=${refreshed.json.access_token as string}`, { authorization: basicAuth() }))
        .json,
    ).toEqual({ active: false });
  });

  // "response_types_supported REQUIRED. JSON array containing a list of the OAuth 2.0
  //  "response_type" values that this authorization server supports."
  // Every response_type belongs to the authorization endpoint, which an ROPC-only server does
  // not have. OAuth 2.0 Multiple Response Type Encoding Practices §4 registers "none": "the
  // Authorization Server SHOULD NOT return an OAuth 2.0 Authorization Code, Access Token,
  // Access Token Type, or ID Token". The list is that, non-empty for strict parsers.
  it('lists only the response type none: there is no authorization endpoint', async () => {
    const meta = (await (await fetch(wellKnown())).json()) as Record<string, unknown>;
    expect(meta.response_types_supported).toEqual(['none']);
    expect(meta).not.toHaveProperty('authorization_endpoint');
  });

  // "token_endpoint_auth_methods_supported OPTIONAL. JSON array containing a list of client
  //  authentication methods supported by this token endpoint."
  // "scopes_supported RECOMMENDED. JSON array containing a list of the OAuth 2.0 [RFC6749]
  //  "scope" values that this authorization server supports."
  it('derives auth methods and scopes from the configuration', () => {
    const client = (c: Partial<ClientConfig>): ClientConfig => ({
      id: 'c',
      secretHash: '',
      secondarySecretHashes: [],
      secondarySecretsNotAfter: [],
      secret: 's',
      public: false,
      grantTypes: ['password'],
      scopes: [],
      defaultScopes: [],
      validators: ['dir'],
      validatorChainMode: 'first-known',
      introspectAnyToken: false,
      accessTokenFormat: '',
      audience: [],
      signingAlgorithm: 'ES256',
      ...c,
    });
    const config = {
      oauth: { issuer: 'https://id.example.org/gw/', paths: { token: '/t', revocation: '/r', introspection: '/i', metadata: '/m' } },
      clients: [client({ scopes: ['b', 'a'] }), client({ id: 'd', scopes: ['a', 'c'] })],
      validators: [{ type: 'ldap', name: 'dir', groupScopes: { admins: ['admin'], ops: ['c', 'ops'] } }],
    } as unknown as GatewayConfig;
    const meta = authorizationServerMetadata(config);
    expect(meta.token_endpoint).toBe('https://id.example.org/gw/t');
    expect(meta.revocation_endpoint).toBe('https://id.example.org/gw/r');
    expect(meta.introspection_endpoint).toBe('https://id.example.org/gw/i');
    expect(meta.issuer).toBe('https://id.example.org/gw/');
    expect(meta.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post']);
    // groupScopes only narrows a client's scopes: 'admin' and 'ops', which no client lists, are not supported.
    expect(meta.scopes_supported).toEqual(['a', 'b', 'c']);
  });

  it('follows configured paths', async () => {
    const custom = await startGateway({
      upstream: env.upstream.url,
      config: {
        oauth: {
          issuer: ISSUER,
          paths: { token: '/oauth/token', revocation: '/oauth/revoke', introspection: '/oauth/introspect', metadata: '/meta' },
        },
      },
    });
    try {
      const meta = (await (await fetch(`${custom.url}/meta`)).json()) as Record<string, unknown>;
      expect(meta.token_endpoint).toBe(`${ISSUER}/oauth/token`);
      expect(meta.revocation_endpoint).toBe(`${ISSUER}/oauth/revoke`);
      expect(meta.introspection_endpoint).toBe(`${ISSUER}/oauth/introspect`);
      const revoke = await postForm(`${custom.url}/oauth/revoke`, `token=${'A'.repeat(65)}`, { authorization: basicAuth() });
      expect(revoke.status).toBe(200);
    } finally {
      await custom.stop();
    }
  });
});
