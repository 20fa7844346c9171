/**
 * Forwarding to the upstream: the only module that knows the proxy engine (http-proxy-3).
 *
 * - one keep-alive agent per upstream origin (without one, both http-proxy engines send
 *   `Connection: close` and lose about 3x in throughput);
 * - bodies stream both ways, nothing is buffered;
 * - upstream refused/reset → 502; no byte from the upstream for `timeoutMs` → 504
 *   (or the connection is cut if the answer had already started);
 * - a client that goes away aborts the upstream request.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import type { Logger } from '../observability/logger.js';
import { sendJson } from '../http/send.js';

export interface ProxyOptions {
  readonly timeoutMs: number;
  readonly maxSockets: number;
  readonly caFile: string;
  readonly logger: Logger;
}

export interface Forwarder {
  web(req: http.IncomingMessage, res: http.ServerResponse, upstream: string): void;
  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, upstream: string): void;
  close(): void;
}

class UpstreamTimeoutError extends Error {
  readonly code = 'UPSTREAM_TIMEOUT';
}

export function createForwarder(options: ProxyOptions): Forwarder {
  const ca = options.caFile ? readFileSync(options.caFile) : undefined;
  const agents = new Map<string, http.Agent>();
  const agentFor = (upstream: string): http.Agent => {
    let agent = agents.get(upstream);
    if (!agent) {
      const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: 64, scheduling: 'lifo' as const };
      agent = upstream.startsWith('https:') ? new https.Agent({ ...agentOptions, ...(ca ? { ca } : {}) }) : new http.Agent(agentOptions);
      agents.set(upstream, agent);
    }
    return agent;
  };

  const proxy = createProxyServer({ xfwd: false, changeOrigin: false, ignorePath: false });
  proxy.on('proxyReq', (proxyReq) => {
    proxyReq.setTimeout(options.timeoutMs, () => proxyReq.destroy(new UpstreamTimeoutError('upstream timed out')));
  });

  const onError = (err: Error, req: http.IncomingMessage, res: http.ServerResponse | Duplex): void => {
    const timedOut = err instanceof UpstreamTimeoutError;
    options.logger.warn({ reqId: req.headers['x-request-id'], code: (err as NodeJS.ErrnoException).code, timedOut }, 'upstream request failed');
    if (!(res instanceof http.ServerResponse)) {
      res.destroy();
      return;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (timedOut) sendJson(res, 504, { error: 'upstream_timeout', error_description: 'the upstream did not answer in time' });
    else sendJson(res, 502, { error: 'upstream_unavailable', error_description: 'the upstream refused or dropped the connection' });
  };

  return {
    web(req, res, upstream) {
      proxy.web(req, res, { target: upstream, agent: agentFor(upstream) }, onError);
    },
    ws(req, socket, head, upstream) {
      proxy.ws(req, socket, head, { target: upstream, agent: agentFor(upstream) }, onError);
    },
    close() {
      for (const agent of agents.values()) agent.destroy();
      proxy.close();
    },
  };
}
