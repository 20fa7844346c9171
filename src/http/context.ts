/**
 * Per-request facts: who asked (the client IP), the request id, and what the data path learns
 * along the way for the completion log line and metrics.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

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
 * `X-Forwarded-For` (the one the outermost trusted proxy saw).
 */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headersDistinct['x-forwarded-for']?.[0];
    const first = forwarded?.split(',', 1)[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? '';
}
