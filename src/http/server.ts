/**
 * The public listener: dispatches each request to the OAuth endpoint it names or to the
 * resource path, turns thrown errors into answers (via error-response.ts) and writes one
 * completion log line per request (never a secret: no bodies, no Authorization).
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { sendOAuthError, sendResourceError, toOAuthError } from '../oauth/error-response.js';
import type { RequestContext } from './context.js';
import { clientIp } from './client-ip.js';
import { requestId } from './request-id.js';
import type { Metrics } from '../observability/metrics.js';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) => Promise<void>;
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext) => Promise<void>;

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
  readonly resource: Handler;
  readonly upgrade?: UpgradeHandler;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
}

export function createPublicServer(options: PublicServerOptions): http.Server {
  const { config, logger, metrics } = options;
  const realm = config.oauth.realm;
  const limits = config.server.limits;
  const serverOptions: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
  };
  const resourceEndpoint: Endpoint = { kind: 'resource', handle: options.resource, errors: 'resource' };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const ctx: RequestContext = { id: requestId(req), clientIp: clientIp(req, config.server.trustProxy), start: process.hrtime.bigint(), kind: 'resource' };
    const q = req.url?.indexOf('?') ?? -1;
    const path = q === -1 ? (req.url ?? '/') : (req.url ?? '/').slice(0, q);
    const endpoint = options.endpoints.get(path) ?? resourceEndpoint;
    ctx.kind = endpoint.kind;
    res.once('close', () => complete(req, res, ctx));
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

  const complete = (req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): void => {
    const ms = Number(process.hrtime.bigint() - ctx.start) / 1e6;
    const status = res.writableFinished ? res.statusCode : 499;
    metrics.observeRequest(ctx.kind, status, ms / 1000);
    if (!logger.isLevelEnabled('info')) return;
    logger.info(
      {
        reqId: ctx.id,
        method: req.method,
        route: ctx.kind,
        status,
        ms: Math.round(ms * 10) / 10,
        ...(ctx.clientId ? { clientId: ctx.clientId } : {}),
        ...(ctx.subject ? { sub: ctx.subject } : {}),
        ...(ctx.grantType ? { grantType: ctx.grantType } : {}),
        ...(ctx.error ? { error: ctx.error } : {}),
      },
      'request',
    );
  };

  const server = options.tls ? https.createServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, onRequest) : http.createServer(serverOptions, onRequest);

  if (options.upgrade) {
    const upgrade = options.upgrade;
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const ctx: RequestContext = { id: requestId(req), clientIp: clientIp(req, config.server.trustProxy), start: process.hrtime.bigint(), kind: 'websocket' };
      upgrade(req, socket, head, ctx).catch((err: unknown) => {
        const oauthError = toOAuthError(err, logger.child({ reqId: ctx.id }));
        socket.end(`HTTP/1.1 ${oauthError.status} ${http.STATUS_CODES[oauthError.status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
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
