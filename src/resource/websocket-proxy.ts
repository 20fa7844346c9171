/**
 * Forwarding WebSocket upgrades to the upstreams: the only module that knows http-proxy-3
 * (plain HTTP goes through undici-forwarder.ts, which hands upgrades here). Not undici's
 * `upgrade()`: it takes any answer but 101 as an error ("bad upgrade"), so an upstream's own
 * refusal of a handshake (a 401 or 403 with its body) would reach the client as a 502.
 *
 * - one keep-alive agent per upstream (URL and CA), built at startup;
 * - https upstreams are always verified: against the route's CA file (else the system CAs),
 *   for the host name in the upstream URL, not the client's Host header (which is passed on);
 * - the handshake is forwarded with the route's `timeoutMs`: no answer in time → 504, refused
 *   or reset before the upstream answered → 502, both written on the raw socket by
 *   src/oauth/error-response.ts; after the upstream answered, a failure cuts the connection;
 * - a client that goes away aborts the upstream request.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import { BadGatewayError, GatewayTimeoutError } from '../oauth/errors.js';
import { sendResourceErrorOnSocket } from '../oauth/error-response.js';
import type { ForwarderOptions, UpgradeForwarder, UpgradeOutcome } from './forwarder.js';
import type { UpstreamTarget } from './routes.js';
import { onceClosed } from '../http/once-closed.js';
import { urlHost } from '../url-host.js';

class UpstreamTimeoutError extends Error {
  readonly code = 'UPSTREAM_TIMEOUT';
}

interface Pending {
  readonly upstream: UpstreamTarget;
  readonly start: bigint;
  done: boolean;
  readonly outcome?: UpgradeOutcome;
}

/** The realm of a challenge is never needed here: a 502/504 carries none. */
const NO_REALM = '';

export function createWebSocketProxy(options: ForwarderOptions): UpgradeForwarder {
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

  const onError = (err: Error, req: http.IncomingMessage, socket: http.ServerResponse | Duplex): void => {
    const timedOut = err instanceof UpstreamTimeoutError;
    const p = pending.get(req);
    const answered = p?.done ?? false;
    finish(req, timedOut ? 'timeout' : 'error');
    const code = (err as NodeJS.ErrnoException).code;
    options.logger.warn({ reqId: req.headers['x-request-id'], code, timedOut }, 'upstream request failed');
    // Answer on the raw socket unless the upstream already did.
    if (answered || !socket.writable || socket instanceof http.ServerResponse) {
      socket.destroy();
      return;
    }
    const error = (timedOut ? new GatewayTimeoutError() : new BadGatewayError()).withDetail(code);
    sendResourceErrorOnSocket(socket, error, NO_REALM);
    // After the answer is written: the completion log line reads its detail (error-response.ts).
    p?.outcome?.(error.status);
  };

  return {
    ws(req, socket, head, upstream, outcome) {
      pending.set(req, { upstream, start: process.hrtime.bigint(), done: false, ...(outcome ? { outcome } : {}) });
      onceClosed(socket, () => finish(req, 'aborted'));
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
  const host = urlHost(new URL(upstream.url));
  return new https.Agent({
    ...agentOptions,
    rejectUnauthorized: true,
    servername: isIP(host) ? '' : host,
    ...(upstream.caFile ? { ca: readFileSync(upstream.caFile) } : {}),
  });
}
