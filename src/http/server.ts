/**
 * The public listener: dispatches each request to the OAuth endpoint it names or to the
 * resource path, turns thrown errors into answers (via error-response.ts) and writes one
 * completion log line per request (never a secret: no bodies, no Authorization).
 *
 * - limits (`server.limits`): headers and request timeouts, keep-alive timeout, largest header
 *   section; the OAuth endpoints also bound their bodies (read-form.ts);
 * - WebSocket upgrades go to the upgrade handler; its refusals are written on the raw socket;
 * - TLS when `server.tls` is set, the certificate reloaded when its files change (tls.ts);
 * - shutdown state is shared through a {@link Lifecycle}: while draining, every answer
 *   carries `Connection: close`.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { sendOAuthError, sendResourceError, sendResourceErrorOnSocket, toOAuthError } from '../oauth/error-response.js';
import { InvalidRequestError } from '../oauth/errors.js';
import type { RequestContext } from './context.js';
import { clientIp } from './client-ip.js';
import { requestId } from './request-id.js';
import type { Metrics } from '../observability/metrics.js';
import { Lifecycle } from './lifecycle.js';
import { describeCertificate, readTlsPair, watchTlsFiles, type TlsFiles, type TlsWatchOptions } from './tls.js';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) => Promise<void>;
/** Handles an upgrade request; calls `outcome` once with the handshake's status (101, or the refusal). */
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext, outcome: (status: number) => void) => Promise<void>;

export interface Endpoint {
  readonly kind: string;
  readonly handle: Handler;
  /** oauth: RFC 6749 error bodies; resource: RFC 6750 challenges. */
  readonly errors: 'oauth' | 'resource';
}

export interface PublicServerOptions {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Exact-path endpoints (token, revocation, introspection, metadata, decision). */
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  /** Endpoints that own every path below a prefix ending in "/" (the decision endpoint, for Envoy). */
  readonly prefixEndpoints?: readonly (readonly [prefix: string, endpoint: Endpoint])[];
  readonly resource: Handler;
  readonly upgrade?: UpgradeHandler;
  readonly lifecycle?: Lifecycle;
  /** TLS termination with these PEM files, reloaded when they change. */
  readonly tls?: TlsFiles & { readonly watch?: TlsWatchOptions };
}

export function createPublicServer(options: PublicServerOptions): http.Server {
  const { config, logger, metrics } = options;
  const lifecycle = options.lifecycle ?? new Lifecycle();
  const realm = config.oauth.realm;
  const errorsOnly = config.log.requests === 'errors';
  const limits = config.server.limits;
  const serverOptions: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    // Node checks the two timeouts above only this often (default 30 s): check every second.
    connectionsCheckingInterval: 1000,
  };
  const resourceEndpoint: Endpoint = { kind: 'resource', handle: options.resource, errors: 'resource' };
  const prefixEndpoints = options.prefixEndpoints ?? [];

  const route = (path: string): Endpoint => {
    const exact = options.endpoints.get(path);
    if (exact) return exact;
    for (const [prefix, endpoint] of prefixEndpoints) if (path.startsWith(prefix)) return endpoint;
    return resourceEndpoint;
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const ctx: RequestContext = { id: requestId(req), clientIp: clientIp(req, config.server.trustProxy), start: process.hrtime.bigint(), kind: 'resource' };
    const endpoint = route(pathOf(req.url));
    ctx.kind = endpoint.kind;
    lifecycle.inFlight += 1;
    if (lifecycle.draining) res.setHeader('connection', 'close');
    res.once('close', () => {
      lifecycle.inFlight -= 1;
      complete(req.method, res.writableFinished ? res.statusCode : 499, ctx);
    });
    endpoint.handle(req, res, ctx).catch((err: unknown) => {
      const oauthError = toOAuthError(err, logger.child({ reqId: ctx.id }));
      ctx.error = oauthError.code || 'missing_token';
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (endpoint.errors === 'oauth') sendOAuthError(res, oauthError, realm);
      else sendResourceError(res, oauthError, realm);
      // An unread body (e.g. 413) must not keep the connection: close it after the answer.
      if (!req.complete) res.once('finish', () => req.socket.destroySoon?.());
    });
  };

  const complete = (method: string | undefined, status: number, ctx: RequestContext): void => {
    const ms = Number(process.hrtime.bigint() - ctx.start) / 1e6;
    metrics.observeRequest(ctx.kind, status, ms / 1000, ctx.route);
    if (ctx.kind === 'token') metrics.observeToken(ctx.grantType, status < 400 ? 'success' : (ctx.error ?? String(status)));
    if (!logger.isLevelEnabled('info') || (errorsOnly && status < 400)) return;
    logger.info(
      {
        reqId: ctx.id,
        method,
        kind: ctx.kind,
        route: ctx.route ?? ctx.kind,
        status,
        ms: Math.round(ms * 10) / 10,
        ...(ctx.clientId ? { clientId: ctx.clientId } : {}),
        ...(ctx.subject ? { sub: ctx.subject } : {}),
        ...(ctx.grantType ? { grantType: ctx.grantType } : {}),
        ...(ctx.error ? { error: ctx.error } : {}),
        ...(ctx.reason ? { reason: ctx.reason } : {}),
      },
      'request',
    );
  };

  let server: http.Server;
  if (options.tls) {
    const tls = options.tls;
    const pair = readTlsPair(tls);
    const secure = https.createServer({ ...serverOptions, ...pair }, onRequest);
    logger.info({ certFile: tls.certFile, ...describeCertificate(pair.cert) }, 'TLS certificate loaded');
    const watcher = watchTlsFiles(secure, tls, logger, tls.watch);
    secure.once('close', () => watcher.close());
    server = secure;
  } else {
    server = http.createServer(serverOptions, onRequest);
  }
  metrics.trackConnections(server, 'public');

  if (options.upgrade) {
    const upgrade = options.upgrade;
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const ctx: RequestContext = { id: requestId(req), clientIp: clientIp(req, config.server.trustProxy), start: process.hrtime.bigint(), kind: 'websocket' };
      // The HTTP server has let go of this socket: an error on it must not crash the process.
      socket.on('error', (err: NodeJS.ErrnoException) => logger.debug({ reqId: ctx.id, code: err.code }, 'websocket client socket error'));
      let done = false;
      const outcome = (status: number): void => {
        if (done) return;
        done = true;
        complete(req.method, status, ctx);
        if (status !== 101) return;
        lifecycle.upgraded.add(socket);
        metrics.websocketDelta(1);
        socket.once('close', () => {
          lifecycle.upgraded.delete(socket);
          metrics.websocketDelta(-1);
        });
      };
      socket.once('close', () => outcome(499));
      const endpoint = route(pathOf(req.url));
      // Only the resource path is upgraded: the OAuth endpoints and the decision endpoint never are.
      const handled = endpoint === resourceEndpoint ? upgrade(req, socket, head, ctx, outcome) : Promise.reject(new InvalidRequestError(`${endpoint.kind}: no upgrade here`));
      handled.catch((err: unknown) => {
        const oauthError = toOAuthError(err, logger.child({ reqId: ctx.id }));
        ctx.error = oauthError.code || 'missing_token';
        sendResourceErrorOnSocket(socket, oauthError, realm);
        outcome(oauthError.status);
      });
    });
  }
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  return server;
}

/** The path of a request target, without its query. */
function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}
