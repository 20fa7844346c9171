/**
 * The resource path (DESIGN §2), as named steps in data-path order:
 *
 *   1. route        first matching rule (routes.ts); unsafe paths refused
 *   2. credentials  Bearer from the Authorization header (bearer.ts)
 *   3. lookup       token → record (store, or the local cache)
 *   4. authorize    scopes and groups of the route (authorize.ts)
 *   5. mutate       strip spoofable headers, inject identity (identity-headers.ts)
 *   6. forward      to the route's upstream (proxy.ts)
 *
 * Errors are thrown as OAuthErrors and written by error-response.ts as RFC 6750 challenges.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidRequestError, InvalidTokenError, MissingTokenError } from '../oauth/errors.js';
import type { RequestContext } from '../http/context.js';
import type { GrantRecord } from '../tokens/types.js';
import { readCredentials } from './bearer.js';
import { authorize } from './authorize.js';
import type { HeaderRules } from './identity-headers.js';
import type { Forwarder } from './proxy.js';
import type { CompiledRoute, RouteMatcher } from './routes.js';

/** Resolves an access token to its live record, or null. Throws StoreUnavailableError on outage. */
export type TokenLookup = (token: string) => Promise<GrantRecord | null>;

export interface ResourceOptions {
  readonly match: RouteMatcher;
  readonly lookup: TokenLookup;
  readonly headers: HeaderRules;
  readonly forwarder: Forwarder;
  readonly tls: boolean;
}

/** Dot-segments and encoded slashes could make the upstream see another path than the rules did. */
const UNSAFE_PATH = /(?:^|\/)\.\.?(?:\/|$)|%2e|%2f|%5c|\\/i;

export function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** Steps 1–4: the decision, shared by the proxy and the decision endpoint. */
export async function decide(
  options: Pick<ResourceOptions, 'match' | 'lookup'>,
  req: IncomingMessage,
  method: string,
  url: string,
  ctx: RequestContext,
): Promise<{ route: CompiledRoute; record: GrantRecord | null }> {
  const { path, query } = splitUrl(url);
  if (!path.startsWith('/') || UNSAFE_PATH.test(path)) throw new InvalidRequestError('the request path has dot-segments or encoded slashes');
  const route = options.match(method, path);
  ctx.kind = route.label;
  if (route.auth === 'none') return { route, record: null };
  const credentials = readCredentials(req, query);
  if (credentials.kind === 'none' || credentials.kind === 'basic') throw new MissingTokenError();
  if (credentials.kind === 'malformed') throw new InvalidTokenError('the Authorization header is not a valid Bearer token');

  const record = await options.lookup(credentials.token);
  if (!record || record.exp <= Date.now() / 1000) throw new InvalidTokenError('the access token is invalid, expired or revoked');
  ctx.clientId = record.clientId;
  ctx.subject = record.sub;
  authorize(route, record);
  return { route, record };
}

export function resourceHandler(options: ResourceOptions) {
  return async function handleResource(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const { route, record } = await decide(options, req, req.method ?? 'GET', req.url ?? '/', ctx);
    options.headers.scrub(req.headers, {
      peerIp: req.socket.remoteAddress ?? '',
      proto: options.tls ? 'https' : 'http',
      requestId: ctx.id,
      upgrade: false,
    });
    if (record) options.headers.inject(req.headers, record);
    options.forwarder.web(req, res, route.upstream);
  };
}
