/**
 * Authorization server metadata (RFC 8414), served at `oauth.paths.metadata`
 * (default `/.well-known/oauth-authorization-server`, §3). The document is built once from the
 * configuration at startup; GET and HEAD only.
 *
 * Choices where RFC 8414 §2 leaves room:
 * - Endpoint URLs are `oauth.issuer` + the configured path, so an issuer with a path (a gateway
 *   behind a path-stripping ingress) keeps its prefix. With such an issuer, §3 puts the
 *   document at `/.well-known/oauth-authorization-server/<issuer path>`: set
 *   `oauth.paths.metadata` to match.
 * - `response_types_supported` is REQUIRED, but there is no authorization endpoint: every
 *   response type belongs to it. It is `["none"]` (OAuth 2.0 Multiple Response Type Encoding
 *   Practices §4: no code and no token come back from the authorization endpoint), the one
 *   registered value that promises nothing this server does not do. Omitting the member
 *   breaks §2, and an empty list is refused by strict parsers (authlib's validate()); see
 *   docs/client-libraries.md.
 * - `grant_types_supported` is the server's capability: `password` and `refresh_token`.
 * - `scopes_supported`: every scope some client may grant (`clients[].scopes`, the ceiling;
 *   `groupScopes` only narrows it), sorted.
 * - Auth methods: `client_secret_basic` and `client_secret_post`; `none` is added for the token
 *   and revocation endpoints when a public client is configured. Introspection never
 *   accepts public clients.
 * - `jwks_uri` only when a key set signs something (JWT access tokens, ID tokens).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config/types.js';
import type { RequestContext } from '../http/context.js';
import { sendJson } from '../http/send.js';
import { MethodNotAllowedError } from '../oauth/errors.js';
import { signingNeeds } from '../config/token-formats.js';
import { SUPPORTED_CLAIMS } from './oidc-claims.js';

export interface AuthorizationServerMetadata {
  readonly issuer: string;
  readonly token_endpoint: string;
  readonly token_endpoint_auth_methods_supported: readonly string[];
  readonly grant_types_supported: readonly string[];
  readonly response_types_supported: readonly string[];
  readonly scopes_supported: readonly string[];
  readonly revocation_endpoint: string;
  readonly revocation_endpoint_auth_methods_supported: readonly string[];
  readonly introspection_endpoint: string;
  readonly introspection_endpoint_auth_methods_supported: readonly string[];
  /** RFC 8414 §2: when a key set signs JWT access tokens or ID tokens (docs/token-formats.md). */
  readonly jwks_uri?: string;
}

/** OpenID Connect Discovery 1.0 §3: the RFC 8414 document plus the OpenID Provider members. */
export interface OpenIdProviderMetadata extends AuthorizationServerMetadata {
  readonly userinfo_endpoint: string;
  readonly subject_types_supported: readonly string[];
  readonly id_token_signing_alg_values_supported: readonly string[];
  readonly claims_supported: readonly string[];
}

type MetadataConfig = Pick<GatewayConfig, 'oauth' | 'clients' | 'validators'>;

export function authorizationServerMetadata(config: MetadataConfig): AuthorizationServerMetadata {
  const { issuer, paths } = config.oauth;
  const base = issuer.replace(/\/+$/, '');
  const confidential = ['client_secret_basic', 'client_secret_post'];
  const withPublic = config.clients.some((c) => c.public) ? [...confidential, 'none'] : confidential;
  const scopes = new Set(config.clients.flatMap((c) => c.scopes));
  const needs = signingNeeds(config);
  return {
    issuer,
    token_endpoint: base + paths.token,
    token_endpoint_auth_methods_supported: withPublic,
    grant_types_supported: ['password', 'refresh_token'],
    response_types_supported: ['none'],
    scopes_supported: [...scopes].sort(),
    revocation_endpoint: base + paths.revocation,
    revocation_endpoint_auth_methods_supported: withPublic,
    introspection_endpoint: base + paths.introspection,
    introspection_endpoint_auth_methods_supported: confidential,
    ...(needs.jwt || needs.openid ? { jwks_uri: base + paths.jwks } : {}),
  };
}

/**
 * The OpenID Provider metadata (OIDC Discovery §3), served at `oauth.paths.openidConfiguration`
 * when some client lists `openid`. `response_types_supported` stays `["none"]` (see above):
 * there is no authorization endpoint, ID tokens come from the password grant only.
 * `id_token_signing_alg_values_supported` lists the algorithms of the openid clients
 * (clients[].signingAlgorithm); `claims_supported` the claims oidc-claims.ts can release.
 */
export function openIdProviderMetadata(config: MetadataConfig): OpenIdProviderMetadata {
  const base = config.oauth.issuer.replace(/\/+$/, '');
  const algorithms = new Set(config.clients.filter((c) => c.scopes.includes('openid')).map((c) => c.signingAlgorithm));
  return {
    ...authorizationServerMetadata(config),
    jwks_uri: base + config.oauth.paths.jwks,
    userinfo_endpoint: base + config.oauth.paths.userinfo,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [...algorithms].sort(),
    claims_supported: [...SUPPORTED_CLAIMS, 'iss', 'aud', 'exp', 'iat', 'auth_time', 'amr', 'sid'],
  };
}

export function metadataEndpoint(config: MetadataConfig, document: object = authorizationServerMetadata(config)) {
  return async function handleMetadata(req: IncomingMessage, res: ServerResponse, _ctx: RequestContext): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowedError('use GET', 'GET, HEAD');
    sendJson(res, 200, document);
  };
}
