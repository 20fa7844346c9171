/**
 * The resource path (docs/architecture.md), as named steps in data-path order:
 *
 *   1. route        the canonical path (canonical-path.ts; what has none is refused), then
 *                   the first matching rule (routes.ts) of every reading of it
 *   2. credentials  Bearer from the Authorization header (credentials.ts), or Basic user
 *                   credentials on `bearer-or-basic` routes (basic-bridge.ts)
 *   3. lookup       token → record (store, or the local cache)
 *   4. authorize    scopes and groups of the route (authorize.ts)
 *   5. mutate       strip spoofable headers, inject identity (identity-headers.ts)
 *   6. forward      the canonical path and the query as sent, to the route's upstream,
 *                   HTTP or WebSocket (proxy.ts): what the rules judged is what goes upstream
 *
 * Steps 1–4 are {@link decide}, shared by the proxy, WebSocket upgrades and the decision
 * endpoint (decision.ts). Errors are thrown as OAuthErrors and written by error-response.ts
 * as RFC 6750 challenges — for an upgrade, on the raw socket before anything is upgraded.
 */
import { guardFormBody, isFormBody } from './body-token-guard.js';
import { sendResourceError } from '../oauth/error-response.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidRequestError, InvalidTokenError, MissingCredentialsError, MissingTokenError } from '../oauth/errors.js';
import type { RequestContext } from '../http/context.js';
import type { GrantRecord } from '../tokens/types.js';
import { readCredentials } from './credentials.js';
import { authorize } from './authorize.js';
import type { BasicBridge } from './basic-bridge.js';
import type { HeaderRules, Identity } from './identity-headers.js';
import type { AssertionSigner } from './assertion.js';
import type { Forwarder, UpgradeOutcome } from './forwarder.js';
import type { CompiledRoute, RouteMatcher } from './routes.js';
import { canonicalTarget, NonCanonicalPathError, type CanonicalTarget } from './canonical-path.js';

/** Resolves an access token to its live record, or null. Throws StoreUnavailableError on outage. */
export type TokenLookup = (token: string) => Promise<GrantRecord | null>;

/**
 * The same answer as {@link TokenLookup} when a synchronous source holds it (the local token
 * cache, tokens/cache.ts `peek`), counted as that lookup would count it; undefined when only
 * the lookup can tell (a miss, another format, the revocation feed not live).
 */
export type TokenProbe = (token: string) => GrantRecord | undefined;

/** What {@link decide} needs. */
export interface DecideOptions {
  readonly match: RouteMatcher;
  readonly lookup: TokenLookup;
  /** Answers a cache hit without a promise (the fast path); absent without a local cache. */
  readonly probe?: TokenProbe;
  /** Checks Basic user credentials on `bearer-or-basic` routes; without it they count as none. */
  readonly basic?: BasicBridge;
}

export interface ResourceOptions extends DecideOptions {
  /**
   * True for a canonical path that names one of the gateway's own endpoints (OAuth, decision),
   * compared ignoring case: such a request arrived in another spelling (`//as/token.oauth2`)
   * and is refused, never proxied.
   */
  readonly reserved?: (path: string) => boolean;
  readonly headers: HeaderRules;
  /** `oauth.realm`, for the answers the resource path writes itself. */
  readonly realm: string;
  /** `headers.assertion.enabled`: signs the identity into a header (assertion.ts). */
  readonly assertion?: AssertionSigner;
  readonly forwarder: Forwarder;
  readonly tls: boolean;
}

export interface Decision {
  /** The first rule that matched: its upstream takes the request. */
  readonly route: CompiledRoute;
  /** Null when every rule that matched is public (`auth: none`). */
  readonly identity: Identity | null;
  /** The request target that was judged, canonical: the only one that may go upstream. */
  readonly target: CanonicalTarget;
  /** The `exp` (seconds) of the bearer token judged; absent for Basic credentials and public routes. */
  readonly tokenExp?: number;
}

export function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** Step 1: the canonical target; a refusal names its reason on the completion log line. */
function canonical(url: string, ctx: RequestContext): CanonicalTarget {
  try {
    return canonicalTarget(url);
  } catch (err) {
    if (err instanceof NonCanonicalPathError) ctx.reason = err.description ?? 'non-canonical path';
    throw err;
  }
}

/**
 * Steps 1–4: the decision for `method` and `url` (origin-form), with `req`'s credentials.
 * Every rule a reading of the path could mean (routes.ts `judging`) must be satisfied.
 */
export async function decide(
  options: DecideOptions,
  req: IncomingMessage,
  method: string,
  url: string,
  ctx: RequestContext,
): Promise<Decision> {
  return decideNow(options, req, method, url, ctx);
}

/**
 * {@link decide}, answered synchronously when nothing needs to wait — a public route, or a
 * bearer token the probe holds (route match → header parse → cache probe → rules) — and as a
 * promise otherwise. Refusals are thrown, synchronously on the fast path.
 */
export function decideNow(
  options: DecideOptions,
  req: IncomingMessage,
  method: string,
  url: string,
  ctx: RequestContext,
): Decision | Promise<Decision> {
  const target = canonical(url, ctx);
  const routes = options.match.judging(method, target.withoutParameters === null ? [target.path] : [target.path, target.withoutParameters]);
  const route = routes[0] as CompiledRoute;
  ctx.route = route.label;
  if (target.withoutParameters !== null && !routes.every((r) => r.allowsParameters)) {
    ctx.reason = 'the request path has a ";" parameter';
    throw new InvalidRequestError('the request path has a ";" parameter, which this route does not allow');
  }
  const guarded = routes.filter((r) => r.auth !== 'none');
  if (guarded.length === 0) return { route, identity: null, target };

  const credentials = readCredentials(req, target.query ?? '');
  if (credentials.kind === 'bearer') {
    const cached = options.probe?.(credentials.token);
    if (cached) return bearerDecision(cached, route, guarded, target, ctx);
    return options.lookup(credentials.token).then((record) => bearerDecision(record, route, guarded, target, ctx));
  }
  if (credentials.kind === 'malformed') throw new InvalidTokenError('the Authorization header is not a valid Bearer token');
  // Basic only when every rule that needs credentials takes it from the same client.
  const basicRoute = guarded.every((r) => r.auth === 'bearer-or-basic' && r.basicClient === guarded[0]?.basicClient)
    ? guarded[0]
    : undefined;
  if (credentials.kind === 'basic' && basicRoute && options.basic) {
    return options.basic
      .authenticate(basicRoute.basicClient, credentials.value, ctx.clientIp, ctx.id)
      .then((identity) => authorized(identity, route, guarded, target, ctx));
  }
  // No credentials, or Basic on a route that does not accept it (the same as none).
  throw basicRoute ? new MissingCredentialsError() : new MissingTokenError();
}

/** Step 3's verdict on a looked-up token, then step 4. */
function bearerDecision(
  record: GrantRecord | null,
  route: CompiledRoute,
  guarded: readonly CompiledRoute[],
  target: CanonicalTarget,
  ctx: RequestContext,
): Decision {
  if (!record || record.exp <= Date.now() / 1000) throw new InvalidTokenError('the access token is invalid, expired or revoked');
  return authorized(record, route, guarded, target, ctx, record.exp);
}

/** Step 4: every guarded rule must let this identity through. */
function authorized(
  identity: Identity,
  route: CompiledRoute,
  guarded: readonly CompiledRoute[],
  target: CanonicalTarget,
  ctx: RequestContext,
  tokenExp?: number,
): Decision {
  ctx.clientId = identity.clientId;
  ctx.subject = identity.sub;
  for (const r of guarded) authorize(r, identity);
  return tokenExp === undefined ? { route, identity, target } : { route, identity, target, tokenExp };
}

/** Step 6's precondition: the gateway's own endpoints are never proxied, however spelled. */
function refuseReserved(options: ResourceOptions, target: CanonicalTarget, ctx: RequestContext): void {
  if (!options.reserved?.(target.path)) return;
  ctx.reason = "the request path names one of the gateway's endpoints in another spelling";
  throw new InvalidRequestError("the request path names one of the gateway's endpoints: send it in canonical form");
}

/**
 * An authority the upstream can read in one way only (RFC 9112 §3.2: exactly one Host; RFC 3986
 * §3.2.2 host and port): no path, query, userinfo or space smuggled into it, never two.
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::[0-9]{1,5})?$/;

/** Step 1's precondition on the proxy path: the Host header the upstream will see is sound. */
function refuseBadHost(req: IncomingMessage, ctx: RequestContext): void {
  const hosts = req.headersDistinct.host;
  if (hosts === undefined || (hosts.length === 1 && HOST.test(hosts[0] as string))) return;
  ctx.reason = hosts.length > 1 ? 'more than one Host header' : 'the Host header is not a host and port';
  throw new InvalidRequestError(`${ctx.reason} (RFC 9112 §3.2)`);
}

/** RFC 6750 §2: the token came in the header and in the form body too (body-token-guard.ts). */
function refuseBodyToken(options: ResourceOptions, res: ServerResponse, ctx: RequestContext): void {
  ctx.reason = 'the access token was sent in the header and in the form body';
  ctx.error = 'invalid_request';
  if (res.headersSent) return void res.destroy();
  res.setHeader('connection', 'close');
  sendResourceError(res, new InvalidRequestError('the access token was sent in more than one way (RFC 6750 §2)'), options.realm);
}

/** Step 5: strip what the gateway owns, then inject the identity (none on public routes). */
function mutateHeaders(
  options: ResourceOptions,
  req: IncomingMessage,
  ctx: RequestContext,
  identity: Identity | null,
  upgrade: boolean,
): void {
  options.headers.scrub(req.headers, {
    peerIp: req.socket.remoteAddress ?? '',
    proto: options.tls ? 'https' : 'http',
    requestId: ctx.id,
    upgrade,
  });
  if (identity) options.headers.inject(req.headers, identity);
}

const DONE = Promise.resolve();

export function resourceHandler(options: ResourceOptions) {
  /** Steps 5 and 6 once decided; a promise only when the assertion must be signed first. */
  const forward = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, decision: Decision): Promise<void> => {
    const { route, identity, target } = decision;
    refuseReserved(options, target, ctx);
    req.url = target.url;
    mutateHeaders(options, req, ctx, identity, false);
    if (identity && options.assertion) {
      return options.assertion.sign(identity).then((assertion) => {
        req.headers[(options.assertion as AssertionSigner).header] = assertion;
        send(req, res, ctx, route, identity);
      });
    }
    send(req, res, ctx, route, identity);
    return DONE;
  };
  const send = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, route: CompiledRoute, identity: Identity | null): void => {
    if (identity && isFormBody(req)) guardFormBody(req, () => refuseBodyToken(options, res, ctx));
    options.forwarder.web(req, res, route.upstream, ctx);
  };
  // Not async: a cache hit is decided and handed to the forwarder in the turn that parsed the
  // request, with no promise in between (docs/performance.md). Refusals become rejections.
  return function handleResource(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    try {
      refuseBadHost(req, ctx);
      const decision = decideNow(options, req, req.method ?? 'GET', req.url ?? '/', ctx);
      if (decision instanceof Promise) return decision.then((d) => forward(req, res, ctx, d));
      return forward(req, res, ctx, decision);
    } catch (err) {
      return Promise.reject(err);
    }
  };
}

/**
 * WebSocket upgrades: the same decision as a request (401/403 before anything is upgraded),
 * then the identity headers, then the handshake goes to the route's upstream. Other upgrade
 * protocols (h2c…) are refused with 400.
 */
export function resourceUpgradeHandler(options: ResourceOptions) {
  return async function handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    ctx: RequestContext,
    outcome: UpgradeOutcome,
  ): Promise<void> {
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      throw new InvalidRequestError('only WebSocket upgrades (GET with Upgrade: websocket) are supported');
    }
    refuseBadHost(req, ctx);
    const { route, identity, target } = await decide(options, req, 'GET', req.url ?? '/', ctx);
    refuseReserved(options, target, ctx);
    req.url = target.url;
    mutateHeaders(options, req, ctx, identity, true);
    if (identity && options.assertion) req.headers[options.assertion.header] = await options.assertion.sign(identity);
    options.forwarder.ws(req, socket, head, route.upstream, outcome);
  };
}
