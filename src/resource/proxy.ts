/**
 * Forwarding to the upstreams: the only module that knows the proxy engine (http-proxy-3).
 *
 * - one keep-alive agent per upstream (URL and CA), built at startup (without one, both
 *   http-proxy engines send `Connection: close` and lose about 3x in throughput);
 * - https upstreams are always verified: against the route's CA file (else the system CAs),
 *   for the host name in the upstream URL, not the client's Host header (which is passed on);
 * - bodies stream both ways, nothing is buffered;
 * - upstream refused/reset → 502; no byte from the upstream for its `timeoutMs` → 504
 *   (or the connection is cut if the answer had already started);
 * - a client that goes away aborts the upstream request;
 * - hop-by-hop headers of the upstream's answer are dropped (RFC 9110 §7.6.1); while the
 *   gateway drains, answers carry `Connection: close` so clients reconnect elsewhere;
 * - WebSocket: the handshake is forwarded with the same agent and timeout; a failure before
 *   the upstream answered is a 502/504 on the raw socket.
 */
import { bodyOf } from './body-token-guard.js';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import type { Logger } from '../observability/logger.js';
import { sendJson } from '../http/send.js';
import { sendContinue } from '../http/continue.js';
import type { UpstreamTarget } from './routes.js';

export interface ProxyOptions {
  /** Keep-alive connections kept to each upstream at most. */
  readonly maxSockets: number;
  readonly logger: Logger;
  /** Upstreams known at startup (every route's); their agents are built now. */
  readonly targets?: readonly UpstreamTarget[];
  /** True while the gateway drains: answers then carry `Connection: close`. */
  readonly closing?: () => boolean;
  /**
   * Called once per forwarded request when the upstream's answer starts (or fails):
   * outcome is the status class (`2xx`…`5xx`, `101`), `error`, `timeout` or `aborted`.
   */
  readonly observe?: (upstream: string, outcome: string, seconds: number) => void;
}

/** Called once with the status of a WebSocket handshake: 101, the upstream's refusal, or 502/504. */
export type UpgradeOutcome = (status: number) => void;

/** Who a forwarded request is for (the request's context): its upstream share is counted by subject, else by client IP. */
export interface Caller {
  readonly subject?: string;
  readonly clientIp: string;
}

export interface Forwarder {
  /** Streams the request to `upstream`; the resource path passes its `caller` (fairness.ts). */
  web(req: http.IncomingMessage, res: http.ServerResponse, upstream: UpstreamTarget, caller?: Caller): void;
  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, upstream: UpstreamTarget, outcome?: UpgradeOutcome): void;
  /** Destroys the upstream connections. */
  close(): void;
}

class UpstreamTimeoutError extends Error {
  readonly code = 'UPSTREAM_TIMEOUT';
}

/** Hop-by-hop response headers, never passed to the client (RFC 9110 §7.6.1). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

interface Pending {
  readonly upstream: UpstreamTarget;
  readonly start: bigint;
  done: boolean;
  /** WebSocket only. */
  readonly outcome?: UpgradeOutcome;
}

export function createForwarder(options: ProxyOptions): Forwarder {
  const agents = new Map<string, http.Agent>();
  const agentFor = (upstream: UpstreamTarget): http.Agent => {
    const key = `${upstream.url}\0${upstream.caFile}`;
    let agent = agents.get(key);
    if (!agent) {
      agent = createAgent(upstream, options.maxSockets);
      agents.set(key, agent);
    }
    return agent;
  };
  for (const target of options.targets ?? []) agentFor(target);

  // Per-request state, looked up from the proxy engine's events.
  const pending = new WeakMap<http.IncomingMessage, Pending>();
  const finish = (req: http.IncomingMessage, outcome: string): void => {
    const p = pending.get(req);
    if (!p || p.done) return;
    p.done = true;
    options.observe?.(p.upstream.url, outcome, Number(process.hrtime.bigint() - p.start) / 1e9);
  };

  const proxy = createProxyServer({ xfwd: false, changeOrigin: false, ignorePath: false });
  // http-proxy-3's deleteLength pass sets `content-length: 0` on a DELETE or OPTIONS that has
  // none and drops its `transfer-encoding`, yet still pipes the body: a chunked body would reach
  // the upstream's keep-alive connection as a second request nobody judged (request smuggling,
  // RFC 9112 §11.2). Without the pass the request keeps its own framing (Node chunks the body
  // when `transfer-encoding: chunked` is passed on).
  const passes = proxy as unknown as { webPasses: { name: string }[] };
  passes.webPasses = passes.webPasses.filter((pass) => pass.name !== 'deleteLength');
  if (passes.webPasses.length !== 3) throw new Error('http-proxy-3 web passes changed: re-check the deleteLength removal in resource/proxy.ts');
  proxy.on('proxyReq', (proxyReq, req) => {
    const timeoutMs = pending.get(req)?.upstream.timeoutMs ?? 30_000;
    proxyReq.setTimeout(timeoutMs, () => proxyReq.destroy(new UpstreamTimeoutError('upstream timed out')));
  });
  proxy.on('proxyRes', (proxyRes, req, res) => {
    const headers = proxyRes.headers;
    const named = typeof headers.connection === 'string' ? headers.connection.split(',').map((n) => n.trim().toLowerCase()) : [];
    for (const name of [...HOP_BY_HOP, ...named]) delete headers[name];
    if (options.closing?.()) headers.connection = 'close';
    finish(req, `${Math.floor((proxyRes.statusCode ?? 0) / 100)}xx`);
    // An answer the upstream cuts short (reset mid-body) raises no error on the proxy request
    // and piping never ends the client's response: cut the client's connection, or it would
    // wait for the rest forever.
    proxyRes.once('close', () => {
      if (proxyRes.complete || res.destroyed) return;
      options.logger.warn({ reqId: req.headers['x-request-id'] }, 'upstream answer cut short');
      res.destroy();
    });
  });
  proxy.on('proxyReqWs', (proxyReq, req) => {
    const p = pending.get(req);
    proxyReq.setTimeout(p?.upstream.timeoutMs ?? 30_000, () => proxyReq.destroy(new UpstreamTimeoutError('upstream timed out')));
    proxyReq.once('upgrade', () => {
      finish(req, '101');
      p?.outcome?.(101);
    });
    proxyReq.once('response', (res: http.IncomingMessage) => {
      finish(req, `${Math.floor((res.statusCode ?? 0) / 100)}xx`);
      p?.outcome?.(res.statusCode ?? 502);
    });
  });

  const onError = (err: Error, req: http.IncomingMessage, res: http.ServerResponse | Duplex): void => {
    const timedOut = err instanceof UpstreamTimeoutError;
    const p = pending.get(req);
    const answered = p?.done ?? false;
    finish(req, timedOut ? 'timeout' : 'error');
    options.logger.warn({ reqId: req.headers['x-request-id'], code: (err as NodeJS.ErrnoException).code, timedOut }, 'upstream request failed');
    const status = timedOut ? 504 : 502;
    const body = timedOut
      ? { error: 'upstream_timeout', error_description: 'the upstream did not answer in time' }
      : { error: 'upstream_unavailable', error_description: 'the upstream refused or dropped the connection' };
    if (!(res instanceof http.ServerResponse)) {
      // A WebSocket handshake: answer on the raw socket unless the upstream already did.
      if (answered || !res.writable) {
        res.destroy();
        return;
      }
      p?.outcome?.(status);
      const payload = JSON.stringify(body);
      res.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json;charset=UTF-8\r\n` +
          `cache-control: no-store\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`,
      );
      return;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, status, body, options.closing?.() ? { connection: 'close' } : {});
  };

  return {
    web(req, res, upstream) {
      sendContinue(res);
      pending.set(req, { upstream, start: process.hrtime.bigint(), done: false });
      res.once('close', () => finish(req, 'aborted'));
      proxy.web(req, res, { target: upstream.url, agent: agentFor(upstream), buffer: bodyOf(req) }, onError);
    },
    ws(req, socket, head, upstream, outcome) {
      pending.set(req, { upstream, start: process.hrtime.bigint(), done: false, ...(outcome ? { outcome } : {}) });
      socket.once('close', () => finish(req, 'aborted'));
      proxy.ws(req, socket, head, { target: upstream.url, agent: agentFor(upstream) }, onError);
    },
    close() {
      for (const agent of agents.values()) agent.destroy();
      proxy.close();
    },
  };
}

/**
 * A keep-alive agent for one upstream. For https, `servername` pins SNI and the certificate
 * check to the upstream URL's host: Node would otherwise take them from the Host header,
 * which is the client's (changeOrigin is off so the upstream sees the original Host).
 */
function createAgent(upstream: UpstreamTarget, maxSockets: number): http.Agent {
  const agentOptions = { keepAlive: true, maxSockets, maxFreeSockets: 64, scheduling: 'lifo' as const };
  if (!upstream.url.startsWith('https:')) return new http.Agent(agentOptions);
  const host = new URL(upstream.url).hostname.replace(/^\[|\]$/g, '');
  return new https.Agent({
    ...agentOptions,
    rejectUnauthorized: true,
    servername: isIP(host) ? '' : host,
    ...(upstream.caFile ? { ca: readFileSync(upstream.caFile) } : {}),
  });
}
