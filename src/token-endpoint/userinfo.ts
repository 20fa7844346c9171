/**
 * The OpenID Connect UserInfo endpoint (OIDC Core §5.3), at `oauth.paths.userinfo`, served
 * when some client lists the `openid` scope. Steps:
 *
 *   1. method     GET or POST (§5.3.1); the token only in the Authorization header (RFC 6750
 *                 §2.1) — in the query or the body it is refused, as on the resource path
 *   2. token      an opaque token, or a JWT access token of this gateway (any audience), by
 *                 its stored record (describe.ts): revocation counts at once
 *   3. scope      the token's scope must include `openid` (403 insufficient_scope, §5.3.3)
 *   4. respond    `sub` and the standard claims of the granted scopes (oidc-claims.ts), JSON,
 *                 no-store
 *
 * Errors are RFC 6750 §3 challenges (invalid_token 401, insufficient_scope 403, invalid_request 400).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../http/context.js';
import { sendJson } from '../http/send.js';
import {
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  MethodNotAllowedError,
  MissingTokenError,
} from '../oauth/errors.js';
import type { JwtAccessTokens } from '../tokens/jwt-access.js';
import type { TokenStore } from '../tokens/types.js';
import { describePresented } from './describe.js';
import { scopedClaims } from './oidc-claims.js';
import { systemClock, type Clock } from '../clock.js';

export interface UserinfoOptions {
  readonly store: TokenStore;
  readonly jwt?: JwtAccessTokens;
  /** The time `exp` is compared with (src/app.ts `clock`); default the system clock. */
  readonly clock?: Clock;
}

const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export function userinfoEndpoint(options: UserinfoOptions) {
  return async function handleUserinfo(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'POST') throw new MethodNotAllowedError('use GET or POST', 'GET, POST');
    if (/(?:^|[?&])access_token=/.test(req.url ?? ''))
      throw new InvalidRequestError('send the access token in the Authorization header, not the URI');
    const token = bearerToken(req);
    const described = await describePresented(token, options.store, options.jwt);
    const record =
      described?.info.type === 'access' && described.info.record.exp * 1000 > (options.clock ?? systemClock).now()
        ? described.info.record
        : undefined;
    if (!record) throw new InvalidTokenError('the access token is invalid, expired or revoked');
    ctx.clientId = record.clientId;
    ctx.subject = record.sub;
    if (!record.scope.includes('openid')) throw new InsufficientScopeError('the access token lacks the openid scope', ['openid']);
    sendJson(res, 200, { ...scopedClaims(record.scope, record.attributes), sub: record.sub });
  };
}

function bearerToken(req: IncomingMessage): string {
  const values = req.headersDistinct.authorization;
  if (!values) throw new MissingTokenError();
  if (values.length > 1) throw new InvalidRequestError('more than one Authorization header');
  const match = BEARER.exec(values[0] as string);
  if (!match?.[1]) {
    if (/^bearer(?: |$)/i.test(values[0] as string)) throw new InvalidTokenError('the Authorization header is not a valid Bearer token');
    throw new MissingTokenError();
  }
  return match[1];
}
