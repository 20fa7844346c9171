/**
 * The forwarding contract the resource path calls (handler.ts), wrapped by fairness.ts and
 * tracing (trace-http.ts). One implementation: plain HTTP through undici
 * (undici-forwarder.ts), WebSocket upgrades through http-proxy-3 (websocket-proxy.ts).
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import type { UpstreamTarget } from './routes.js';

export interface ForwarderOptions {
  /** Keep-alive connections kept to each upstream at most. */
  readonly maxSockets: number;
  readonly logger: Logger;
  /** Upstreams known at startup (every route's); their pools and agents are built now. */
  readonly targets?: readonly UpstreamTarget[];
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

/** Forwards WebSocket upgrades (websocket-proxy.ts). */
export interface UpgradeForwarder {
  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, upstream: UpstreamTarget, outcome?: UpgradeOutcome): void;
  /** Destroys the upstream connections. */
  close(): void;
}

export interface Forwarder extends UpgradeForwarder {
  /** Streams the request to `upstream`; the resource path passes its `caller` (fairness.ts). */
  web(req: http.IncomingMessage, res: http.ServerResponse, upstream: UpstreamTarget, caller?: Caller): void;
}
