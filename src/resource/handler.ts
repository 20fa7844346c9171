/**
 * The resource path (DESIGN §2), as named steps in data-path order:
 *
 *   1. route        first matching rule (routes.ts); unsafe paths refused
 *   2. credentials  Bearer from the Authorization header (bearer.ts), or Basic user
 *                   credentials on `bearer-or-basic` routes (basic-bridge.ts)
 *   3. lookup       token → record (store, or the local cache)
 *   4. authorize    scopes and groups of the route (authorize.ts)
 *   5. mutate       strip spoofable headers, inject identity (identity-headers.ts)
 *   6. forward      to the route's upstream, HTTP or WebSocket (proxy.ts)
 *
 * Steps 1–4 are {@link decide}, shared by the proxy, WebSocket upgrades and the decision
 * endpoint (decision.ts). Errors are thrown as OAuthErrors and written by error-response.ts
 * as RFC 6750 challenges — for an upgrade, on the raw socket before anything is upgraded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidRequestError, InvalidTokenError, MissingCredentialsError, MissingTokenError } from '../oauth/errors.js';
import type { RequestContext } from '../http/context.js';
import type { GrantRecord } from '../tokens/types.js';
import { readCredentials } from './bearer.js';
import { authorize } from './authorize.js';
import type { BasicBridge } from './basic-bridge.js';
import type { HeaderRules, Identity } from './identity-headers.js';
import type { AssertionSigner } from './assertion.js';
import type { Forwarder, UpgradeOutcome } from './proxy.js';
import type { CompiledRoute, RouteMatcher } from './routes.js';

/** Resolves an access token to its live record, or null. Throws StoreUnavailableError on outage. */
export type TokenLookup = (token: string) => Promise<GrantRecord | null>;

/** What {@link decide} needs. */
export interface DecideOptions {
  readonly match: RouteMatcher;
  readonly lookup: TokenLookup;
  /** Checks Basic user credentials on `bearer-or-basic` routes; without it they count as none. */
  readonly basic?: BasicBridge;
}

export interface ResourceOptions extends DecideOptions {
  readonly headers: HeaderRules;
  /** `headers.assertion.enabled`: signs the identity into a header (assertion.ts). */
  readonly assertion?: AssertionSigner;
  readonly forwarder: Forwarder;
  readonly tls: boolean;
}

export interface Decision {
  readonly route: CompiledRoute;
  /** Null on public routes (`auth: none`). */
  readonly identity: Identity | null;
}

/** Dot-segments and encoded slashes could make the upstream see another path than the rules did. */
const UNSAFE_PATH = /(?:^|\/)\.\.?(?:\/|$)|%2e|%2f|%5c|\\/i;

export function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** Steps 1–4: the decision for `method` and `url` (origin-form), with `req`'s credentials. */
export async function decide(options: DecideOptions, req: IncomingMessage, method: string, url: string, ctx: RequestContext): Promise<Decision> {
  const { path, query } = splitUrl(url);
  if (!path.startsWith('/') || UNSAFE_PATH.test(path)) throw new InvalidRequestError('the request path has dot-segments or encoded slashes');
  const route = options.match(method, path);
  ctx.route = route.label;
  if (route.auth === 'none') return { route, identity: null };

  const credentials = readCredentials(req, query);
  let identity: Identity;
  if (credentials.kind === 'bearer') {
    const record = await options.lookup(credentials.token);
    if (!record || record.exp <= Date.now() / 1000) throw new InvalidTokenError('the access token is invalid, expired or revoked');
    identity = record;
  } else if (credentials.kind === 'malformed') {
    throw new InvalidTokenError('the Authorization header is not a valid Bearer token');
  } else if (credentials.kind === 'basic' && route.auth === 'bearer-or-basic' && options.basic) {
    identity = await options.basic.authenticate(route.basicClient, credentials.value, ctx.clientIp);
  } else {
    // No credentials, or Basic on a route that does not accept it (the same as none).
    throw route.auth === 'bearer-or-basic' ? new MissingCredentialsError() : new MissingTokenError();
  }
  ctx.clientId = identity.clientId;
  ctx.subject = identity.sub;
  authorize(route, identity);
  return { route, identity };
}

/** Step 5: strip what the gateway owns, then inject the identity (none on public routes). */
function mutateHeaders(options: ResourceOptions, req: IncomingMessage, ctx: RequestContext, identity: Identity | null, upgrade: boolean): void {
  options.headers.scrub(req.headers, { peerIp: req.socket.remoteAddress ?? '', proto: options.tls ? 'https' : 'http', requestId: ctx.id, upgrade });
  if (identity) options.headers.inject(req.headers, identity);
}

export function resourceHandler(options: ResourceOptions) {
  return async function handleResource(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const { route, identity } = await decide(options, req, req.method ?? 'GET', req.url ?? '/', ctx);
    mutateHeaders(options, req, ctx, identity, false);
    if (identity && options.assertion) req.headers[options.assertion.header] = await options.assertion.sign(identity);
    options.forwarder.web(req, res, route.upstream);
  };
}

/**
 * WebSocket upgrades: the same decision as a request (401/403 before anything is upgraded),
 * then the identity headers, then the handshake goes to the route's upstream. Other upgrade
 * protocols (h2c…) are refused with 400.
 */
export function resourceUpgradeHandler(options: ResourceOptions) {
  return async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext, outcome: UpgradeOutcome): Promise<void> {
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      throw new InvalidRequestError('only WebSocket upgrades (GET with Upgrade: websocket) are supported');
    }
    const { route, identity } = await decide(options, req, 'GET', req.url ?? '/', ctx);
    mutateHeaders(options, req, ctx, identity, true);
    if (identity && options.assertion) req.headers[options.assertion.header] = await options.assertion.sign(identity);
    options.forwarder.ws(req, socket, head, route.upstream, outcome);
  };
}
