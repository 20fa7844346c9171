/**
 * The decision endpoint (docs/routing.md "The decision endpoint"): the resource path's checks
 * without the proxy hop, for an ingress that already proxies. Steps:
 *
 *   1. original request   which method and URI to decide for, read ONLY from the source
 *                         `decision.ingress` names:
 *                         - nginx    `GET|HEAD decision.path`, X-Original-Method + X-Original-URI
 *                                    (auth_request with the proxy_set_header lines of the docs);
 *                         - traefik  `GET|HEAD decision.path`, X-Forwarded-Method + X-Forwarded-Uri
 *                                    (forwardAuth);
 *                         - envoy    any method on `decision.path/<original path>` (ext_authz
 *                                    `path_prefix`, which keeps the method and appends the path).
 *                         Every ingress passes the client's own headers along, so a source read
 *                         "as a fallback" is a source the client controls. The configured
 *                         headers must be present exactly once; the other form is refused; and
 *                         every other header that names the request's method or URI (the other
 *                         ingresses' headers, method overrides, X-Original-URL…) must agree
 *                         with what is judged, or the request is refused: the upstream might
 *                         read it and act on a request nobody judged.
 *   2. decide             route rules, credentials, token, scopes, groups (handler.ts)
 *   3. answer             200 with the identity headers (for `auth_request_set`, forwardAuth's
 *                         `authResponseHeaders` or Envoy's `allowed_upstream_headers`) and, for
 *                         Envoy, `x-envoy-auth-headers-to-remove` naming what the upstream must
 *                         not see; or 401/403 with the RFC 6750 challenge (error-response.ts).
 *
 * The ingress, not the gateway, forwards the request: docs/routing.md shows how each one must
 * pass these headers on and drop spoofed ones.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { InvalidRequestError, MethodNotAllowedError } from '../oauth/errors.js';
import type { RequestContext } from '../http/context.js';
import type { DecisionIngress } from '../config/types.js';
import type { AssertionSigner } from './assertion.js';
import { decide, splitUrl, type DecideOptions } from './handler.js';
import { cgiName, FORWARDING, STRIPPED_NAMES, type HeaderRules } from './identity-headers.js';

export interface DecisionOptions extends DecideOptions {
  /** `decision.path`. */
  readonly path: string;
  /** `decision.ingress`: the only source of the original request. */
  readonly ingress: DecisionIngress;
  readonly headers: HeaderRules;
  readonly assertion?: AssertionSigner;
  /** `headers.removeAuthorization`: ask Envoy to drop Authorization upstream. */
  readonly removeAuthorization: boolean;
  /** Lower-case names of the configured identity headers. */
  readonly identityHeaders: readonly string[];
  /**
   * `decision.cacheSeconds` (already capped by the assertion's lifetime): the longest an
   * ingress may cache an allowing bearer-token decision; 0 never.
   */
  readonly cacheSeconds: number;
}

const METHOD = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

/** The header pair each header-form ingress sets (lower-case). */
const SOURCE: Record<Exclude<DecisionIngress, 'envoy'>, { readonly method: string; readonly uri: string }> = {
  nginx: { method: 'x-original-method', uri: 'x-original-uri' },
  traefik: { method: 'x-forwarded-method', uri: 'x-forwarded-uri' },
};

/**
 * Headers that name the request's method, or its URI, to someone: an ingress, a framework's
 * method override (Rails, Laravel, Symfony, ASP.NET), IIS/Symfony URL rewriting. Compared
 * with `_` read as `-` (CGI/WSGI/PHP upstreams read both as the same variable).
 */
const NAMES_METHOD = ['x-original-method', 'x-forwarded-method', 'x-http-method-override', 'x-http-method', 'x-method-override'];
const NAMES_URI = ['x-original-uri', 'x-forwarded-uri', 'x-original-url', 'x-rewrite-url'];

export function decisionEndpoint(options: DecisionOptions) {
  const base = options.path.replace(/\/+$/, '');

  return async function handleDecision(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const original = originalRequest(req, options.ingress, options.path, base);
    const { identity, tokenExp } = await decide(options, req, original.method, original.uri, ctx);

    const headers: OutgoingHttpHeaders = cacheHeaders(options.cacheSeconds, tokenExp, Date.now());
    headers['content-length'] = 0;
    const set = identity ? options.headers.values(identity) : [];
    for (const [name, value] of set) headers[name] = value;
    if (identity && options.assertion) headers[options.assertion.header] = await options.assertion.sign(identity);
    if (options.ingress === 'envoy') {
      // What the proxy path would strip (identity-headers.ts): the named ones always (Envoy
      // removes a header only if it is listed), the inbound ones the check request carried.
      // Not the forwarding headers, which Envoy sets itself, nor its own x-envoy-*.
      const remove = new Set<string>(options.removeAuthorization ? ['authorization'] : []);
      for (const name of [...options.identityHeaders, ...Object.keys(req.headers), ...STRIPPED_NAMES]) {
        const envoyOwn = FORWARDING.includes(name) || cgiName(name).startsWith('x-envoy-');
        if (options.headers.strips(name) && !envoyOwn && headers[name] === undefined) remove.add(name);
      }
      if (remove.size) headers['x-envoy-auth-headers-to-remove'] = [...remove].join(', ');
    }
    res.writeHead(200, headers);
    res.end();
  };
}

/**
 * How long the ingress may keep this allowing answer (docs/routing.md "Caching decisions"):
 * the smaller of `cacheSeconds` and the token's remaining whole seconds, so a cached decision
 * never outlives the token. nginx's proxy_cache reads X-Accel-Expires before Cache-Control;
 * `private` keeps any other shared cache from storing it. Only bearer-token decisions: a
 * Basic-bridge login has no lifetime of its own, and denials (written by error-response.ts
 * with `no-store`) are never cached — each distinct bad token would take a cache slot, and
 * a flood of them would push out the valid decisions.
 */
export function cacheHeaders(cacheSeconds: number, tokenExp: number | undefined, nowMs: number): OutgoingHttpHeaders {
  const seconds = tokenExp === undefined ? 0 : Math.min(cacheSeconds, Math.floor(tokenExp - nowMs / 1000));
  if (!(seconds > 0)) return { 'cache-control': 'no-store' };
  return { 'x-accel-expires': String(seconds), 'cache-control': `private, max-age=${seconds}` };
}

/** Step 1: the method and origin-form URI of the request the ingress asks about. */
function originalRequest(req: IncomingMessage, ingress: DecisionIngress, path: string, base: string): { method: string; uri: string } {
  const url = req.url ?? '/';
  const exact = splitUrl(url).path === path;
  let original: { method: string; uri: string };
  if (ingress === 'envoy') {
    if (exact)
      throw new InvalidRequestError(
        'decision.ingress is envoy: send the original path below decision.path (ext_authz path_prefix), not headers',
      );
    original = { method: req.method ?? 'GET', uri: url.slice(base.length) };
  } else {
    if (!exact) throw new InvalidRequestError(`decision.ingress is ${ingress}: the path-prefix form (Envoy ext_authz) is not accepted`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowedError('use GET', 'GET, HEAD');
    const source = SOURCE[ingress];
    const method = exactlyOne(req, source.method);
    const uri = exactlyOne(req, source.uri);
    if (!METHOD.test(method)) throw new InvalidRequestError('the original method is not an HTTP method');
    original = { method: method.toUpperCase(), uri };
  }
  refuseDisagreement(req, original, ingress === 'envoy' ? undefined : SOURCE[ingress]);
  return original;
}

function exactlyOne(req: IncomingMessage, name: string): string {
  const values = req.headersDistinct[name];
  if (values === undefined) throw new InvalidRequestError(`missing the ${name} header`);
  if (values.length > 1) throw new InvalidRequestError(`more than one ${name} header`);
  return values[0] as string;
}

/**
 * Every other header naming the method or URI must name the judged one: the same method (in
 * any case) and byte for byte the same URI. A copy that agrees is harmless; one that does not
 * describes a request nobody judged, so the whole request is refused.
 */
function refuseDisagreement(
  req: IncomingMessage,
  original: { method: string; uri: string },
  source: { method: string; uri: string } | undefined,
): void {
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (name === source?.method || name === source?.uri || values === undefined) continue;
    const n = name.replace(/_/g, '-');
    const agrees = NAMES_METHOD.includes(n)
      ? (v: string) => v.toUpperCase() === original.method
      : NAMES_URI.includes(n)
        ? (v: string) => v === original.uri
        : undefined;
    if (agrees && !values.every(agrees))
      throw new InvalidRequestError(`the ${name} header names another request than the one the ingress asks about`);
  }
}
