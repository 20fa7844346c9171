/**
 * The public listener: dispatches each request to the OAuth endpoint it names or to the
 * resource path, turns thrown errors into answers (via error-response.ts) and writes one
 * completion log line per request (never a secret: no bodies, no Authorization).
 *
 * - limits (`server.limits`): headers and request timeouts, keep-alive timeout, largest header
 *   section; the OAuth endpoints also bound their bodies (read-form.ts); connections per peer,
 *   a first-byte timeout, and refused connections destroyed once answered (connections.ts);
 * - `Expect: 100-continue` is not answered by Node: the OAuth endpoints (whose body is the
 *   credential) continue at once, the resource path only once the request is authorized
 *   (continue.ts, called by the forwarders);
 * - malformed requests (400), header overflow (431) and request timeouts (408) get a bare
 *   answer, a rate-limited log line without header values, and a closed connection;
 * - WebSocket upgrades go to the upgrade handler; its refusals are written on the raw socket;
 * - TLS when `server.tls` is set, the certificate reloaded when its files change (tls.ts);
 * - shutdown state is shared through a {@link Lifecycle}, which every response is tracked by:
 *   while draining, every answer carries `Connection: close` (lifecycle.ts).
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { completionWriter } from '../observability/request-log.js';
import {
  sendOAuthError,
  sendResourceError,
  sendResourceErrorOnSocket,
  toOAuthError,
  writeAnswerOnSocket,
  writtenError,
} from '../oauth/error-response.js';
import { InvalidRequestError } from '../oauth/errors.js';
import { clientIp, requestId, type RequestContext } from './context.js';
import type { Metrics } from '../observability/metrics.js';
import { Lifecycle } from './lifecycle.js';
import { closeAfterAnswer, guardConnections, rateLimited, watchBodyRate } from './connections.js';
import { awaitingContinue, expectContinue } from './continue.js';
import { certificateNotAfter, describeCertificate, readTlsPair, watchTlsFiles, type TlsFiles, type TlsWatchOptions } from './tls.js';
import { onceClosed } from './once-closed.js';

/** Log lines for malformed requests (400/408/431) at most per second; the rest are counted and reported in the next line. */
const CLIENT_ERROR_LOGS_PER_SECOND = 10;

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) => Promise<void>;
/** Handles an upgrade request; calls `outcome` once with the handshake's status (101, or the refusal). */
export type UpgradeHandler = (
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  ctx: RequestContext,
  outcome: (status: number) => void,
) => Promise<void>;

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
  const writeCompletion = completionWriter(logger);
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

  // The answer under way on each socket (the last one, for pipelined requests): a parse error
  // after it must not be written into the middle of it.
  const answering = new WeakMap<Duplex, http.ServerResponse>();

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse, expectsContinue = false): void => {
    firstRequest(req.socket);
    answering.set(req.socket, res);
    const ctx: RequestContext = {
      id: requestId(req),
      clientIp: clientIp(req, config.server.trustProxy),
      start: performance.now(),
      kind: 'resource',
    };
    const endpoint = route(pathOf(req.url));
    ctx.kind = endpoint.kind;
    lifecycle.track(res);
    onceClosed(res, () => {
      if (answering.get(req.socket) === res) answering.delete(req.socket);
      complete(req.method, res.writableFinished ? res.statusCode : 499, ctx, res);
    });
    // RFC 9112 §6.1: chunked is the one transfer coding the gateway decodes. A body in another
    // (`gzip, chunked`) would be re-framed and reach the upstream or the form parser still
    // encoded, so it is refused (RFC 9112 §6.1: 501) before anything reads it, and the
    // connection closes: its unread body cannot be skipped.
    if (!onlyChunked(req.headers['transfer-encoding'])) {
      ctx.error = 'unsupported_transfer_coding';
      res.writeHead(501, { connection: 'close', 'content-length': 0, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    // The body is the credential on the OAuth endpoints; the resource path continues once authorized.
    // ...unless its declared body is over the limit: then the 413 comes without inviting it.
    if (expectsContinue && endpoint.errors === 'oauth') {
      if (!(Number(req.headers['content-length']) > limits.bodyBytes)) res.writeContinue();
    } else if (expectsContinue) expectContinue(res);
    if (limits.minBodyBytesPerSecond > 0 && hasBody(req))
      watchBodyRate(
        req,
        limits.minBodyBytesPerSecond,
        () => cutBody(req, res, 408),
        () => awaitingContinue(res),
      );
    endpoint.handle(req, res, ctx).catch((err: unknown) => {
      const oauthError = toOAuthError(err, logger.child({ reqId: ctx.id }));
      ctx.error = oauthError.code || 'missing_token';
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (endpoint.errors === 'oauth') sendOAuthError(res, oauthError, realm);
      else sendResourceError(res, oauthError, realm);
      // An unread body (e.g. 413, or a refusal of an Expect: 100-continue request) must not
      // keep the connection: close it once the answer is flushed.
      if (!req.complete) res.once('finish', () => closeAfterAnswer(req.socket));
    });
  };

  /** `answered` is the response (or upgrade socket) the answer went on: an error written there gives the line its `error` and `detail`. */
  const complete = (method: string | undefined, status: number, ctx: RequestContext, answered: object): void => {
    const written = writtenError(answered);
    const error = ctx.error ?? written?.code;
    const ms = performance.now() - ctx.start;
    metrics.observeRequest(ctx.kind, status, ms / 1000, ctx.route);
    if (ctx.kind === 'token') metrics.observeToken(ctx.grantType, status < 400 ? 'success' : (ctx.error ?? String(status)));
    if (!logger.isLevelEnabled('info') || (errorsOnly && status < 400)) return;
    writeCompletion({
      reqId: ctx.id,
      method,
      kind: ctx.kind,
      route: ctx.route ?? ctx.kind,
      status,
      ms: Math.round(ms * 10) / 10,
      clientId: ctx.clientId,
      sub: ctx.subject,
      grantType: ctx.grantType,
      error,
      detail: written?.detail,
      reason: ctx.reason,
    });
  };

  let server: http.Server;
  const handleRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => onRequest(req, res);
  if (options.tls) {
    const tls = options.tls;
    const pair = readTlsPair(tls);
    const secure = https.createServer({ ...serverOptions, ...pair, handshakeTimeout: limits.firstByteTimeoutMs }, handleRequest);
    logger.info({ certFile: tls.certFile, ...describeCertificate(pair.cert) }, 'TLS certificate loaded');
    const recordExpiry = (cert: Buffer): void => {
      const notAfter = certificateNotAfter(cert);
      if (notAfter !== undefined) metrics.recordCertificate(tls.certFile, notAfter);
    };
    recordExpiry(pair.cert);
    const watcher = watchTlsFiles(secure, tls, logger, { ...tls.watch, onInstalled: recordExpiry });
    secure.once('close', () => watcher.close());
    server = secure;
  } else {
    server = http.createServer(serverOptions, handleRequest);
  }
  metrics.trackConnections(server, 'public');
  // With a 'checkContinue' listener Node sends no 100 Continue itself (RFC 9110 §10.1.1).
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => onRequest(req, res, true));
  const firstRequest = guardConnections(server, {
    connectionsPerIp: limits.connectionsPerIp,
    firstByteTimeoutMs: limits.firstByteTimeoutMs,
    tls: options.tls !== undefined,
    onRefused: () => metrics.refuseConnection('per_ip'),
  });
  if (limits.maxConnections > 0) {
    server.maxConnections = limits.maxConnections;
    server.on('drop', () => metrics.refuseConnection('max'));
  }

  if (options.upgrade) {
    const upgrade = options.upgrade;
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      firstRequest(req.socket);
      const ctx: RequestContext = {
        id: requestId(req),
        clientIp: clientIp(req, config.server.trustProxy),
        start: performance.now(),
        kind: 'websocket',
      };
      // The HTTP server has let go of this socket: an error on it must not crash the process.
      socket.on('error', (err: NodeJS.ErrnoException) => logger.debug({ reqId: ctx.id, code: err.code }, 'websocket client socket error'));
      let done = false;
      const outcome = (status: number): void => {
        if (done) return;
        done = true;
        complete(req.method, status, ctx, socket);
        if (status !== 101) return;
        lifecycle.upgraded.add(socket);
        metrics.websocketDelta(1);
        onceClosed(socket, () => {
          lifecycle.upgraded.delete(socket);
          metrics.websocketDelta(-1);
        });
      };
      socket.once('close', () => outcome(499));
      const endpoint = route(pathOf(req.url));
      // Only the resource path is upgraded: the OAuth endpoints and the decision endpoint never are.
      const handled =
        endpoint === resourceEndpoint
          ? upgrade(req, socket, head, ctx, outcome)
          : Promise.reject(new InvalidRequestError(`${endpoint.kind}: no upgrade here`));
      handled.catch((err: unknown) => {
        const oauthError = toOAuthError(err, logger.child({ reqId: ctx.id }));
        ctx.error = oauthError.code || 'missing_token';
        sendResourceErrorOnSocket(socket, oauthError, realm);
        closeAfterAnswer(socket);
        outcome(oauthError.status);
      });
    });
  }
  /** A body that cannot complete: answer `status` if nothing was sent yet, else cut the connection. */
  const cutBody = (req: http.IncomingMessage, res: http.ServerResponse, status: number): void => {
    if (res.headersSent) return void req.socket.destroy();
    res.writeHead(status, { connection: 'close', 'content-length': 0 });
    res.end();
    res.once('finish', () => closeAfterAnswer(req.socket));
  };

  const logClientError = rateLimited<{ status: number; code: string; peer: string }>(CLIENT_ERROR_LOGS_PER_SECOND, (entry, suppressed) => {
    if (!logger.isLevelEnabled('info')) return;
    logger.info(
      { kind: 'client-error', status: entry.status, error: entry.code, peer: entry.peer, ...(suppressed ? { suppressed } : {}) },
      'request',
    );
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const code = err.code ?? 'ERR';
    // Bytes after a request that said `Connection: close` (RFC 9112 §9.6: the server "MUST NOT
    // process any further requests" on it): that request is served, the bytes are ignored.
    const afterClose = code === 'HPE_CLOSED_CONNECTION';
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const current = answering.get(socket);
    // A request whose body broke off gets its own completion line (with this status).
    if (!afterClose && !(current && !current.req.complete)) {
      metrics.observeRequest('client-error', status, 0);
      logClientError({ status, code, peer: socket.remoteAddress ?? '' });
    }
    if (current && !current.req.complete) {
      // The body of the request being forwarded broke off (timed out, malformed, or the client
      // closed its side): it cannot complete. Answer if nothing was sent yet, else cut it.
      if (afterClose) return socket.destroy();
      return cutBody(current.req, current, status);
    }
    if (current) {
      // The error follows a complete request whose answer is under way (pipelining): nothing
      // may be written into that answer; the connection closes after it.
      if (current.writableFinished) closeAfterAnswer(socket);
      else onceClosed(current, () => closeAfterAnswer(socket));
      return;
    }
    if (afterClose || !socket.writable) return socket.destroy();
    writeAnswerOnSocket(socket, { status, headers: { Connection: 'close', 'Content-Length': 0 }, body: '' });
    closeAfterAnswer(socket);
  });
  return server;
}

function hasBody(req: http.IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  );
}

/** The path of a request target, without its query. */
function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** No Transfer-Encoding, or exactly `chunked` (any case, one entry): the codings the gateway can read. */
function onlyChunked(transferEncoding: string | undefined): boolean {
  if (transferEncoding === undefined) return true;
  const codings = transferEncoding
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '');
  return codings.length === 1 && codings[0] === 'chunked';
}
