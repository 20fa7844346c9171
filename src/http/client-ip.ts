import type { IncomingMessage } from 'node:http';

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
