/**
 * Forwarding to the upstreams: plain HTTP with undici (docs/performance.md), the only HTTP
 * engine; WebSocket upgrades go to websocket-proxy.ts (http-proxy-3), given at construction.
 * The contract (forwarder.ts):
 *
 * - one keep-alive `Pool` per upstream (URL, CA and timeout), built at startup for the known
 *   targets; https upstreams are verified against the route's CA file (else the system CAs),
 *   for the host name of the upstream URL, never the client's Host header (which is passed on);
 * - bodies stream both ways with backpressure, nothing is buffered;
 * - refused/reset → 502 `upstream_unavailable`; no byte from the upstream for the target's
 *   `timeoutMs` (connect, headers) → 504 `upstream_timeout`, both written by
 *   src/oauth/error-response.ts with the undici error code as their log-only detail; a stall
 *   after the answer started cuts the connection;
 * - a client that goes away aborts the upstream request;
 * - hop-by-hop headers are dropped both ways (src/http/hop-by-hop.ts, RFC 9110 §7.6.1), with
 *   every header named in `Connection:`; while the gateway drains, the response already
 *   carries `Connection: close` (src/http/lifecycle.ts), which the upstream's answer keeps.
 *
 * The request headers are forwarded as the resource path left them (scrubbed, X-Forwarded-*
 * and identity injected); only what undici refuses to send is removed here.
 */
import { bodyOf } from './body-token-guard.js';
import type http from 'node:http';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import { sendContinue } from '../http/continue.js';
import { HOP_BY_HOP } from '../http/hop-by-hop.js';
import { BadGatewayError, GatewayTimeoutError } from '../oauth/errors.js';
import { sendResourceError } from '../oauth/error-response.js';
import type { Forwarder, ForwarderOptions, UpgradeForwarder } from './forwarder.js';
import type { UpstreamTarget } from './routes.js';
import { onceClosed } from '../http/once-closed.js';
import { urlHost } from '../url-host.js';

/**
 * Request headers never sent upstream: hop-by-hop (undici frames the body itself), and
 * `expect` (the gateway answers 100-continue itself, continue.ts).
 */
const REQUEST_HOP_BY_HOP: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'expect']);
/** Response headers never passed to the client. */
const RESPONSE_HOP_BY_HOP: ReadonlySet<string> = new Set(HOP_BY_HOP);

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** The realm of a challenge is never needed here: a 502/504 carries none. */
const NO_REALM = '';

/** An upstream, compiled once: its pool and how request paths map onto its URL. */
interface Compiled {
  readonly pool: Pool;
  /** The URL's path without a trailing slash; '' for the root. */
  readonly basePath: string;
  /** The URL's query (without '?'), merged before the request's; '' when none. */
  readonly baseQuery: string;
  readonly timeoutMs: number;
  /** For https: a constant, so undici never re-keys connections on the client's Host header. */
  readonly servername: string | undefined;
}

/** The client went away before the answer was complete. */
class ClientGoneError extends Error {
  readonly code = 'CLIENT_GONE';
}

/**
 * @param upgrades the WebSocket forwarder (websocket-proxy.ts), which handles `ws()`; closed with this one
 */
export function createUndiciForwarder(options: ForwarderOptions, upgrades: UpgradeForwarder): Forwarder {
  const pools = new Map<string, Pool>();
  const compiled = new WeakMap<UpstreamTarget, Compiled>();
  const compile = (target: UpstreamTarget): Compiled => {
    let c = compiled.get(target);
    if (!c) {
      const url = new URL(target.url);
      const key = `${url.origin}\0${target.caFile}\0${target.timeoutMs}`;
      let pool = pools.get(key);
      if (!pool) {
        pool = createPool(url, target, options.maxSockets);
        pools.set(key, pool);
      }
      const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
      const host = urlHost(url);
      c = {
        pool,
        basePath,
        baseQuery: url.search.slice(1),
        timeoutMs: target.timeoutMs,
        servername: url.protocol === 'https:' ? host : undefined,
      };
      compiled.set(target, c);
    }
    return c;
  };
  for (const target of options.targets ?? []) compile(target);

  return {
    web(req, res, upstream) {
      const c = compile(upstream);
      const handler = new ForwardHandler(options, req, res, upstream.url);
      const hasBody =
        req.headers['transfer-encoding'] !== undefined ||
        (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
      const dispatch: Dispatcher.DispatchOptions = {
        path: upstreamPath(c, req.url ?? '/'),
        method: req.method ?? 'GET',
        headers: endToEndHeaders(req.headers, REQUEST_HOP_BY_HOP),
        body: hasBody ? bodyOf(req) : null,
        headersTimeout: c.timeoutMs,
        bodyTimeout: c.timeoutMs,
      };
      if (c.servername !== undefined) (dispatch as { servername?: string }).servername = c.servername;
      // Authorized: now the client may send its body (RFC 9110 §10.1.1).
      sendContinue(res);
      c.pool.dispatch(dispatch, handler);
    },
    ws(req, socket, head, upstream, outcome) {
      upgrades.ws(req, socket, head, upstream, outcome);
    },
    close() {
      for (const pool of pools.values()) pool.destroy().catch(() => undefined);
      upgrades.close();
    },
  };
}

/** The request's path under the upstream URL's path (as http-proxy-3 joins them), queries merged. */
export function upstreamPath(c: Pick<Compiled, 'basePath' | 'baseQuery'>, url: string): string {
  if (c.basePath === '' && c.baseQuery === '') return url;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const joined = c.basePath + (path.startsWith('/') ? path : `/${path}`);
  const queries = c.baseQuery && query ? `${c.baseQuery}&${query}` : c.baseQuery || query;
  return queries ? `${joined}?${queries}` : joined;
}

/**
 * A flat [name, value, …] list of the headers that may cross the hop, either way: none of
 * `hopByHop` (RFC 9110 §7.6.1), none named in this message's `Connection`.
 */
function endToEndHeaders(headers: http.IncomingHttpHeaders, hopByHop: ReadonlySet<string>): string[] {
  const named = namedIn(headers.connection);
  const out: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || hopByHop.has(name) || named?.includes(name)) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  return out;
}

function createPool(url: URL, target: UpstreamTarget, maxSockets: number): Pool {
  const common = { connections: maxSockets, pipelining: 1, headersTimeout: target.timeoutMs, bodyTimeout: target.timeoutMs };
  if (url.protocol !== 'https:') return new Pool(url.origin, { ...common, connect: { timeout: target.timeoutMs } });
  const host = urlHost(url);
  const connector = buildConnector({
    timeout: target.timeoutMs,
    rejectUnauthorized: true,
    ...(target.caFile ? { ca: readFileSync(target.caFile) } : {}),
  });
  // SNI and the certificate check follow the upstream URL: the request's `servername` (which
  // undici would take from the client's Host header) is replaced; none for an IP address.
  const pinned = isIP(host) ? undefined : host;
  return new Pool(url.origin, {
    ...common,
    connect: (opts, callback) => {
      const { servername: _fromClientHost, ...rest } = opts;
      connector(pinned === undefined ? rest : { ...rest, servername: pinned }, callback);
    },
  });
}

/**
 * One forwarded request: writes the upstream's answer to `res` as it arrives. Every outcome is
 * reported once to `options.observe`.
 */
class ForwardHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private readonly start: bigint | undefined;
  private done = false;
  private gone = false;
  /** The upstream's answer has started on `res`. */
  private answered = false;

  constructor(
    private readonly options: ForwarderOptions,
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly upstream: string,
  ) {
    if (options.observe) this.start = process.hrtime.bigint();
    // A client that left during the authorization: the request is aborted as it starts.
    onceClosed(res, this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    // Finished by the upstream's answer: nothing to abort. Finished by the gateway (a 408 for a
    // body that broke off): the upstream request is aborted.
    if (this.answered && this.res.writableFinished) return;
    this.gone = true;
    this.finish('aborted');
    // Before onRequestStart the request waits in the pool: it is aborted when it starts.
    this.controller?.abort(new ClientGoneError('the client went away'));
  };

  private readonly onDrain = (): void => {
    this.controller?.resume();
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.gone) controller.abort(new ClientGoneError('the client went away'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: http.IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    // 1xx (other than 101, which undici treats as an upgrade) are informational: wait for the answer.
    if (statusCode < 200) return;
    // The gateway has answered already (a 408 for a body that timed out): drop the upstream's.
    if (this.res.headersSent) {
      this.gone = true;
      _controller.abort(new ClientGoneError('the client was answered already'));
      return;
    }
    this.answered = true;
    this.finish(`${Math.floor(statusCode / 100)}xx`);
    const out = endToEndHeaders(headers, RESPONSE_HOP_BY_HOP);
    if (statusMessage) this.res.writeHead(statusCode, statusMessage, out);
    else this.res.writeHead(statusCode, out);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', this.onDrain);
    }
  }

  onResponseEnd(): void {
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    // The gateway answered the client itself (a refused body, body-token-guard.ts): keep that answer.
    if (!this.answered && this.res.writableEnded) {
      this.finish('aborted');
      return;
    }
    if (this.gone || err instanceof ClientGoneError) {
      this.res.destroy();
      return;
    }
    const code = (err as NodeJS.ErrnoException).code;
    const timedOut = code !== undefined && TIMEOUT_CODES.has(code);
    this.finish(timedOut ? 'timeout' : 'error');
    this.options.logger.warn({ reqId: this.req.headers['x-request-id'], code, timedOut }, 'upstream request failed');
    // An answer already under way cannot become a 502/504: cut the connection instead.
    if (this.res.headersSent || this.res.destroyed) {
      this.res.destroy();
      return;
    }
    sendResourceError(this.res, (timedOut ? new GatewayTimeoutError() : new BadGatewayError()).withDetail(code), NO_REALM);
  }

  private finish(outcome: string): void {
    if (this.done) return;
    this.done = true;
    const observe = this.options.observe;
    if (observe && this.start !== undefined) observe(this.upstream, outcome, Number(process.hrtime.bigint() - this.start) / 1e9);
  }
}

/** Header names listed in a `Connection` value (lower case); undefined for the usual bare options. */
function namedIn(connection: string | string[] | undefined): string[] | undefined {
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return undefined;
  return (typeof connection === 'string' ? connection : connection.join(','))
    .toLowerCase()
    .split(',')
    .map((n) => n.trim());
}
