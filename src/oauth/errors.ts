/**
 * OAuth 2.0 errors, one class per error code.
 *
 * Everything on the token and resource paths throws these (or lets an unexpected error
 * escape, which `error-response.ts` turns into `server_error`). Only `error-response.ts`
 * turns them into HTTP answers.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.2.1
 */
export abstract class OAuthError extends Error {
  /** The RFC error code sent as `error`. */
  abstract readonly code: string;
  /** HTTP status of the answer. */
  abstract readonly status: number;
  /**
   * A machine-readable extension field `reason` of the JSON answer, for the few answers that
   * may say more than their code (src/token-endpoint/directory-answers.ts).
   */
  readonly reason?: string;
  /**
   * Why, for the log only (as node-oidc-provider's `error_detail`): the client sees the RFC
   * body, the request's completion line (src/http/server.ts) carries this as `detail`. A
   * short cause such as an error code or the outage's reason; never a credential, a token
   * or request data.
   */
  detail?: string;

  constructor(readonly description?: string) {
    super(description ?? 'oauth error');
  }

  /** Sets {@link detail}; returns this error, for `throw new XError(…).withDetail(…)`. */
  withDetail(detail: string | undefined): this {
    if (detail !== undefined) this.detail = detail;
    return this;
  }
}

/** RFC 6749 §5.2: the request is missing a required parameter, repeats one, or is otherwise malformed. */
export class InvalidRequestError extends OAuthError {
  readonly code = 'invalid_request';
  readonly status: number = 400;
}

/**
 * RFC 6749 §5.2: client authentication failed. "If the client attempted to authenticate via
 * the "Authorization" request header field, the authorization server MUST respond with an
 * HTTP 401 (Unauthorized) status code and include the "WWW-Authenticate" response header
 * field". With `challenge` (the client used the header, or sent no credentials at all) the
 * answer is 401 with `WWW-Authenticate: Basic`; without (it authenticated in the body:
 * `client_secret_post`, or a `client_id` that is not a public client) it is 400 and no
 * challenge — a 401 must carry one (RFC 9110 §15.5.2). See docs/security.md.
 */
export class InvalidClientError extends OAuthError {
  readonly code = 'invalid_client';
  readonly status: number;
  constructor(
    description?: string,
    readonly challenge = true,
  ) {
    super(description);
    this.status = challenge ? 401 : 400;
  }
}

/**
 * RFC 6749 §5.2: the resource owner credentials or the refresh token are invalid, expired or
 * revoked. The description is deliberately the same for every cause so an answer never
 * tells an unknown user from a wrong password or a locked account.
 */
export class InvalidGrantError extends OAuthError {
  readonly code = 'invalid_grant';
  readonly status: number = 400;
}

/** RFC 6749 §5.2: the authenticated client may not use this grant type. */
export class UnauthorizedClientError extends OAuthError {
  readonly code = 'unauthorized_client';
  readonly status: number = 400;
}

/** RFC 6749 §5.2: the grant type is not supported by this server. */
export class UnsupportedGrantTypeError extends OAuthError {
  readonly code = 'unsupported_grant_type';
  readonly status: number = 400;
}

/** RFC 6749 §5.2: the requested scope is invalid, unknown or exceeds what may be granted. */
export class InvalidScopeError extends OAuthError {
  readonly code = 'invalid_scope';
  readonly status: number = 400;
}

/** RFC 7009 §2.2.1: the server does not revoke this kind of token. */
export class UnsupportedTokenTypeError extends OAuthError {
  readonly code = 'unsupported_token_type';
  readonly status: number = 400;
}

/**
 * RFC 6749 §4.1.2.1 (used at the token endpoint as PingFederate does): a dependency — the
 * token store or a password credential validator — is down or timed out. Answered with 503
 * and `Retry-After`; it never counts as a failed login.
 */
export class TemporarilyUnavailableError extends OAuthError {
  readonly code = 'temporarily_unavailable';
  readonly status: number = 503;
  constructor(
    description?: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(description);
  }
}

/**
 * Not an OAuth code (RFC 9110 §15.6.3, 502 Bad Gateway): the upstream of a route refused or
 * dropped the connection before its answer started. Body `upstream_unavailable`.
 */
export class BadGatewayError extends OAuthError {
  readonly code = 'upstream_unavailable';
  readonly status: number = 502;
  constructor(description = 'the upstream refused or dropped the connection') {
    super(description);
  }
}

/**
 * Not an OAuth code (RFC 9110 §15.6.5, 504 Gateway Timeout): the upstream of a route sent no
 * byte of its answer within the route's `timeoutMs`. Body `upstream_timeout`.
 */
export class GatewayTimeoutError extends OAuthError {
  readonly code = 'upstream_timeout';
  readonly status: number = 504;
  constructor(description = 'the upstream did not answer in time') {
    super(description);
  }
}

/** RFC 6749 §5.2 extension used for anything unexpected; the cause goes to the log only. */
export class ServerError extends OAuthError {
  readonly code = 'server_error';
  readonly status: number = 500;
}

/** RFC 6750 §3.1: the access token is missing-but-malformed, expired, revoked or unknown. */
export class InvalidTokenError extends OAuthError {
  readonly code = 'invalid_token';
  readonly status: number = 401;
}

/** RFC 6750 §3.1: the token lacks the scope (or group) the route requires. */
export class InsufficientScopeError extends OAuthError {
  readonly code = 'insufficient_scope';
  readonly status: number = 403;
  constructor(
    description: string | undefined,
    readonly requiredScope: readonly string[],
  ) {
    super(description);
  }
}

/**
 * RFC 6750 §3: the request carried no credentials at all. The challenge then has no error
 * code (§3.1: "the resource server SHOULD NOT include an error code").
 */
export class MissingTokenError extends OAuthError {
  readonly code = '';
  readonly status: number = 401;
}

/**
 * RFC 6750 §3 with RFC 7617: a route that also accepts HTTP Basic user credentials
 * (`auth: bearer-or-basic`) got no credentials. Challenges for both schemes, no error code.
 */
export class MissingCredentialsError extends MissingTokenError {}

/**
 * Not an OAuth code (RFC 7617 §2): HTTP Basic user credentials on a `bearer-or-basic` route
 * were refused — wrong, unknown, locked out or malformed, all alike. Answered 401 with the
 * Basic and Bearer challenges and no body, so a refusal never says why.
 */
export class InvalidUserCredentialsError extends OAuthError {
  readonly code = 'invalid_credentials';
  readonly status: number = 401;
}

/** Not an OAuth code: the body was larger than `server.limits.bodyBytes`. */
export class PayloadTooLargeError extends InvalidRequestError {
  override readonly status: number = 413;
}

/** Not an OAuth code: the endpoint exists but not for this method. */
export class MethodNotAllowedError extends InvalidRequestError {
  override readonly status: number = 405;
  constructor(
    description: string,
    readonly allow: string,
  ) {
    super(description);
  }
}

/**
 * Not an OAuth code (RFC 6585 §4): the caller (a subject, or a client IP on a public route)
 * already has its share of requests in flight to the upstreams. Answered 429 with
 * `Retry-After`, body `temporarily_unavailable`.
 */
export class TooManyRequestsError extends TemporarilyUnavailableError {
  override readonly status: number = 429;
}
