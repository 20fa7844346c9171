/**
 * The decision endpoint (DESIGN §6 `decision`): the resource path's checks without the proxy
 * hop, for an ingress that already proxies — nginx `auth_request`, Traefik ForwardAuth,
 * Envoy `ext_authz` (HTTP). Steps:
 *
 *   1. original request   which method and URI to decide for:
 *                         - `GET|HEAD decision.path` with `X-Original-Method`/`X-Original-URI`
 *                           (nginx) or `X-Forwarded-Method`/`X-Forwarded-Uri` (Traefik);
 *                         - any method on `decision.path/<original path>` (Envoy ext_authz
 *                           `path_prefix`, which keeps the method and appends the path).
 *   2. decide             route rules, credentials, token, scopes, groups (handler.ts)
 *   3. answer             200 with the identity headers (for `auth_request_set` or Envoy's
 *                         `allowed_upstream_headers`) and `x-envoy-auth-headers-to-remove`
 *                         naming what the upstream must not see; or 401/403 with the RFC 6750
 *                         challenge (written by error-response.ts).
 *
 * The ingress, not the gateway, forwards the request: docs/routing.md shows how each one must
 * pass these headers on and drop spoofed ones.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { InvalidRequestError, MethodNotAllowedError } from '../oauth/errors.js';
import type { RequestContext } from '../http/context.js';
import { decide, splitUrl, type DecideOptions } from './handler.js';
import type { HeaderRules } from './identity-headers.js';

export interface DecisionOptions extends DecideOptions {
  /** `decision.path`. */
  readonly path: string;
  readonly headers: HeaderRules;
  /** `headers.removeAuthorization`: ask Envoy to drop Authorization upstream. */
  readonly removeAuthorization: boolean;
  /** Lower-case names of the configured identity headers. */
  readonly identityHeaders: readonly string[];
}

const METHOD = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

export function decisionEndpoint(options: DecisionOptions) {
  const base = options.path.replace(/\/+$/, '');

  return async function handleDecision(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const original = originalRequest(req, options.path, base);
    const { identity } = await decide(options, req, original.method, original.uri, ctx);

    const headers: OutgoingHttpHeaders = { 'cache-control': 'no-store', 'content-length': 0 };
    const set = identity ? options.headers.values(identity) : [];
    for (const [name, value] of set) headers[name] = value;
    const remove = new Set<string>(options.removeAuthorization ? ['authorization'] : []);
    for (const name of [...options.identityHeaders, ...Object.keys(req.headers)]) {
      if (options.headers.owns(name) && headers[name] === undefined) remove.add(name);
    }
    if (remove.size) headers['x-envoy-auth-headers-to-remove'] = [...remove].join(', ');
    res.writeHead(200, headers);
    res.end();
  };
}

/** Step 1: the method and origin-form URI of the request the ingress asks about. */
function originalRequest(req: IncomingMessage, path: string, base: string): { method: string; uri: string } {
  const url = req.url ?? '/';
  if (splitUrl(url).path !== path) {
    // Envoy ext_authz with path_prefix: the original method, decision.path + the original URI.
    return { method: req.method ?? 'GET', uri: url.slice(base.length) };
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowedError('use GET', 'GET, HEAD');
  const method = single(req, 'x-original-method') ?? single(req, 'x-forwarded-method');
  const uri = single(req, 'x-original-uri') ?? single(req, 'x-forwarded-uri');
  if (method === undefined || uri === undefined) {
    throw new InvalidRequestError('send X-Original-Method and X-Original-URI (nginx auth_request) or X-Forwarded-Method and X-Forwarded-Uri');
  }
  if (!METHOD.test(method)) throw new InvalidRequestError('the original method is not an HTTP method');
  return { method: method.toUpperCase(), uri };
}

function single(req: IncomingMessage, name: string): string | undefined {
  const values = req.headersDistinct[name];
  if (values === undefined) return undefined;
  if (values.length > 1) throw new InvalidRequestError(`more than one ${name} header`);
  return values[0];
}
