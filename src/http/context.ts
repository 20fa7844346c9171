/**
 * Per-request facts: who asked (the client IP), the request id, and what the data path learns
 * along the way for the completion log line and metrics.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { canonicalIp } from '../ip-address.js';

/** Collected along the data path for the completion log line and metrics. */
export interface RequestContext {
  readonly id: string;
  readonly clientIp: string;
  /** performance.now() when the request arrived. */
  readonly start: number;
  /** Which handler took the request: token, revocation, introspection, metadata, decision, resource, websocket. */
  kind: string;
  /** Resource path: the label of the route rule that matched. */
  route?: string;
  clientId?: string;
  subject?: string;
  grantType?: string;
  /** A short machine-readable reason for a non-2xx answer (error code). */
  error?: string;
  /** Why a request was refused before any credential was read (e.g. a non-canonical path); never holds request data. */
  reason?: string;
}

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The inbound X-Request-Id when it is a safe token, else a new UUID. Propagated upstream. */
export function requestId(req: IncomingMessage): string {
  const inbound = req.headers['x-request-id'];
  return typeof inbound === 'string' && SAFE_ID.test(inbound) ? inbound : randomUUID();
}

/**
 * The client's IP: the socket peer, or — with `server.trustProxy` — the first address of
 * `X-Forwarded-For` (the one the outermost trusted proxy saw), in one canonical spelling
 * ({@link canonicalIp}), so one client is one address for the lockout's budget and the
 * fair shares whoever spelled it. A first element that is no address is not a client IP: the
 * peer is used, so made-up values share the proxy's one budget instead of each having one.
 */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headersDistinct['x-forwarded-for']?.[0];
    const first = forwarded === undefined ? undefined : forwardedAddress(forwarded.split(',', 1)[0] ?? '');
    if (first) return first;
  }
  const peer = req.socket.remoteAddress ?? '';
  return canonicalIp(peer) ?? peer;
}

const BRACKETED = /^\[([\w:.%-]+)\](?::\d{1,5})?$/;
const IPV4_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;

/** An X-Forwarded-For element (a port and IPv6 brackets allowed) as a canonical IP address; undefined when it is none. */
export function forwardedAddress(element: string): string | undefined {
  const value = element.trim();
  return canonicalIp(BRACKETED.exec(value)?.[1] ?? IPV4_PORT.exec(value)?.[1] ?? value);
}
