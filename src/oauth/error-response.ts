/**
 * The ONLY place that turns errors into HTTP answers (STYLE habit 1).
 *
 * - token-side endpoints: RFC 6749 §5.2 JSON bodies, `WWW-Authenticate: Basic` on 401
 *   `invalid_client`, `Retry-After` on 503;
 * - resource path: RFC 6750 §3 `WWW-Authenticate: Bearer` challenges.
 *
 * Anything that is not an OAuthError becomes `server_error` (its stack goes to the log only),
 * except a dependency outage, which becomes 503 `temporarily_unavailable`.
 */
import type { ServerResponse, OutgoingHttpHeaders } from 'node:http';
import type { Logger } from '../observability/logger.js';
import { StoreUnavailableError } from '../tokens/types.js';
import { ValidatorUnavailableError } from '../validators/types.js';
import {
  InsufficientScopeError,
  MethodNotAllowedError,
  MissingTokenError,
  OAuthError,
  ServerError,
  TemporarilyUnavailableError,
} from './errors.js';
import { sendJson } from '../http/send.js';

/** Classifies any thrown value as an OAuthError, logging what the client must not see. */
export function toOAuthError(err: unknown, logger: Logger): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof StoreUnavailableError || err instanceof ValidatorUnavailableError) {
    logger.warn({ err: { message: err.message } }, 'dependency unavailable');
    return new TemporarilyUnavailableError('the service is temporarily unavailable, retry later');
  }
  logger.error({ err }, 'unexpected error');
  return new ServerError('internal error');
}

export function oauthErrorBody(err: OAuthError): Record<string, string> {
  return err.description ? { error: err.code, error_description: err.description } : { error: err.code };
}

/** Writes an RFC 6749 §5.2 error answer (token, revocation and introspection endpoints). */
export function sendOAuthError(res: ServerResponse, err: OAuthError, realm: string): void {
  const headers: OutgoingHttpHeaders = {};
  if (err.status === 401) headers['www-authenticate'] = `Basic realm="${quote(realm)}", charset="UTF-8"`;
  if (err instanceof TemporarilyUnavailableError) headers['retry-after'] = String(err.retryAfterSeconds);
  if (err instanceof MethodNotAllowedError) headers.allow = err.allow;
  sendJson(res, err.status, oauthErrorBody(err), headers);
}

/** Builds the RFC 6750 §3 challenge for an error on the resource path. */
export function bearerChallenge(err: OAuthError, realm: string): string {
  const parts = [`realm="${quote(realm)}"`];
  if (!(err instanceof MissingTokenError) && err.code) {
    parts.push(`error="${err.code}"`);
    if (err.description) parts.push(`error_description="${quote(err.description)}"`);
  }
  if (err instanceof InsufficientScopeError && err.requiredScope.length) parts.push(`scope="${quote(err.requiredScope.join(' '))}"`);
  return `Bearer ${parts.join(', ')}`;
}

/** Writes an error answer on the resource path (RFC 6750 §3.1). */
export function sendResourceError(res: ServerResponse, err: OAuthError, realm: string): void {
  const headers: OutgoingHttpHeaders = {};
  if (err.status === 401 || err.status === 403 || err.code === 'invalid_request') headers['www-authenticate'] = bearerChallenge(err, realm);
  if (err instanceof TemporarilyUnavailableError) headers['retry-after'] = String(err.retryAfterSeconds);
  if (err instanceof MissingTokenError) {
    res.writeHead(401, { ...headers, 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
    return;
  }
  sendJson(res, err.status, oauthErrorBody(err), headers);
}

/** RFC 7230 quoted-string content: escape backslash and double quote, drop controls. */
function quote(value: string): string {
  return value.replace(/[\\"]/g, '\\$&').replace(/[\x00-\x1f\x7f]/g, '');
}
