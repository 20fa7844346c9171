/**
 * The ONLY place that turns errors into HTTP answers (RFC 6749 §5.2 bodies, RFC 6750 §3 challenges).
 *
 * - token-side endpoints: RFC 6749 §5.2 JSON bodies, `WWW-Authenticate: Basic` on 401
 *   `invalid_client` (a client that authenticated in the body gets 400 and no challenge,
 *   `InvalidClientError.challenge`), `Retry-After` on 503;
 * - resource path: RFC 6750 §3 `WWW-Authenticate: Bearer` challenges (plus `Basic` on routes
 *   that accept Basic user credentials), and the forwarders' 502 `upstream_unavailable` and
 *   504 `upstream_timeout`, on a response or on the raw socket of an upgrade
 *   ({@link writeAnswerOnSocket} also writes the listener's bare 400/408/431 answers).
 *
 * Anything that is not an OAuthError becomes `server_error` (its stack goes to the log only),
 * except a dependency outage ({@link OutageError}), which becomes 503 `temporarily_unavailable`.
 * Each error written is remembered for its response (or socket) so the completion log line
 * can carry its code and its log-only `detail` ({@link writtenError}).
 */
import { STATUS_CODES, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import { OutageError } from '../outage.js';
import {
  InsufficientScopeError,
  InvalidClientError,
  InvalidUserCredentialsError,
  MethodNotAllowedError,
  MissingCredentialsError,
  MissingTokenError,
  OAuthError,
  ServerError,
  TemporarilyUnavailableError,
} from './errors.js';
import { NO_STORE, sendJson } from '../http/send.js';

/** Classifies any thrown value as an OAuthError, logging what the client must not see. */
export function toOAuthError(err: unknown, logger: Logger): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof OutageError) {
    logger.warn({ err: { message: err.message } }, 'dependency unavailable');
    return new TemporarilyUnavailableError('the service is temporarily unavailable, retry later').withDetail(err.message);
  }
  logger.error({ err }, 'unexpected error');
  // The name only: the message and stack are in the line above, which is logged at error level.
  return new ServerError('internal error').withDetail(`unexpected ${err instanceof Error ? err.name : typeof err}`);
}

/** The error written as the answer on each response or upgrade socket (for the completion log line). */
const written = new WeakMap<object, OAuthError>();

/**
 * The error this module wrote as the answer on `target` (a ServerResponse, or the raw socket
 * of an upgrade), if any: src/http/server.ts logs its code and `detail`.
 */
export function writtenError(target: object): OAuthError | undefined {
  return written.get(target);
}

export function oauthErrorBody(err: OAuthError): Record<string, string> {
  const body: Record<string, string> = err.description ? { error: err.code, error_description: err.description } : { error: err.code };
  // An extension field (RFC 6749 §5.2 allows them): a directory state or a password policy rule.
  if (err.reason !== undefined) body['reason'] = err.reason;
  return body;
}

/** Writes an RFC 6749 §5.2 error answer (token, revocation and introspection endpoints). */
export function sendOAuthError(res: ServerResponse, err: OAuthError, realm: string): void {
  written.set(res, err);
  const headers: OutgoingHttpHeaders = {};
  // RFC 6749 §5.2 with RFC 9110 §15.5.2: every 401 here is a challenged invalid_client.
  if (err.status === 401 || (err instanceof InvalidClientError && err.challenge)) headers['www-authenticate'] = basicChallenge(realm);
  if (err instanceof TemporarilyUnavailableError) headers['retry-after'] = String(err.retryAfterSeconds);
  if (err instanceof MethodNotAllowedError) headers.allow = err.allow;
  sendJson(res, err.status, oauthErrorBody(err), headers);
}

/** Builds the RFC 6750 §3 challenge for an error on the resource path. */
export function bearerChallenge(err: OAuthError, realm: string): string {
  const parts = [`realm="${quote(realm)}"`];
  // No error code when no Bearer token was presented (§3.1), which includes refused Basic credentials.
  if (!(err instanceof MissingTokenError) && !(err instanceof InvalidUserCredentialsError) && err.code) {
    parts.push(`error="${err.code}"`);
    if (err.description) parts.push(`error_description="${quote(err.description)}"`);
  }
  if (err instanceof InsufficientScopeError && err.requiredScope.length) parts.push(`scope="${quote(err.requiredScope.join(' '))}"`);
  return `Bearer ${parts.join(', ')}`;
}

/** The RFC 7617 §2 challenge (token endpoint clients, and users on `bearer-or-basic` routes). */
export function basicChallenge(realm: string): string {
  return `Basic realm="${quote(realm)}", charset="UTF-8"`;
}

/** A complete error answer: status, headers and body. */
export interface ErrorAnswer {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  readonly body: string;
}

/**
 * The answer to an error on the resource path (RFC 6750 §3.1): a Bearer challenge on 401, 403
 * and `invalid_request`; also a Basic challenge (RFC 7617) where the route accepts Basic user
 * credentials. No body when no token was presented.
 */
export function resourceErrorAnswer(err: OAuthError, realm: string): ErrorAnswer {
  const challenges: string[] = [];
  // Basic first where it is accepted: clients that send Basic only after a challenge need it,
  // and an ingress may pass on just the first one (nginx 1.22 auth_request does).
  if (err instanceof MissingCredentialsError || err instanceof InvalidUserCredentialsError) challenges.push(basicChallenge(realm));
  if (err.status === 401 || err.status === 403 || err.code === 'invalid_request') challenges.push(bearerChallenge(err, realm));
  const headers: OutgoingHttpHeaders = {};
  if (challenges.length) headers['www-authenticate'] = challenges.length === 1 ? challenges[0] : challenges;
  if (err instanceof TemporarilyUnavailableError) headers['retry-after'] = String(err.retryAfterSeconds);
  if (err instanceof MethodNotAllowedError) headers.allow = err.allow;
  if (err instanceof MissingTokenError || err instanceof InvalidUserCredentialsError) {
    return { status: 401, headers: { ...headers, 'cache-control': 'no-store', 'content-length': 0 }, body: '' };
  }
  const body = JSON.stringify(oauthErrorBody(err));
  return {
    status: err.status,
    headers: { ...NO_STORE, 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(body), ...headers },
    body,
  };
}

/**
 * Writes an error answer on the resource path (RFC 6750 §3.1), and the forwarders' 502/504.
 * While the gateway drains, the response already carries `Connection: close`
 * (src/http/lifecycle.ts), which the answer's own headers keep.
 */
export function sendResourceError(res: ServerResponse, err: OAuthError, realm: string): void {
  written.set(res, err);
  const answer = resourceErrorAnswer(err, realm);
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/**
 * Writes an error answer on a raw socket and closes it: a WebSocket upgrade refused, or whose
 * upstream failed, before the upgrade (no ServerResponse exists for an upgrade request).
 * Always with `Connection: close`.
 */
export function sendResourceErrorOnSocket(socket: Duplex, err: OAuthError, realm: string): void {
  written.set(socket, err);
  const answer = resourceErrorAnswer(err, realm);
  writeAnswerOnSocket(socket, { ...answer, headers: { ...answer.headers, connection: 'close' } });
}

/**
 * Writes a complete HTTP/1.1 answer on a raw socket and ends it (destroys it if it cannot be
 * written): the upgrade path's errors, and the listener's bare answers to requests it could
 * not parse (src/http/server.ts). Header names are written as given.
 */
export function writeAnswerOnSocket(socket: Duplex, answer: ErrorAnswer): void {
  const lines = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}`];
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(v)}`);
  }
  if (socket.writable) socket.end(`${lines.join('\r\n')}\r\n\r\n${answer.body}`);
  else socket.destroy();
}

/** RFC 7230 quoted-string content: escape backslash and double quote, drop controls. */
function quote(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: RFC 9110 §5.6.4 quoted-string has no place for control characters
  return value.replace(/[\\"]/g, '\\$&').replace(/[\x00-\x1f\x7f]/g, '');
}
