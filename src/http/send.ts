/** Writing JSON answers. Every OAuth answer carries `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1). */
import type { ServerResponse, OutgoingHttpHeaders } from 'node:http';

export const NO_STORE: OutgoingHttpHeaders = { 'cache-control': 'no-store', pragma: 'no-cache' };

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...NO_STORE,
    'content-type': 'application/json;charset=UTF-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}
