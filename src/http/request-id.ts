import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The inbound X-Request-Id when it is a safe token, else a new UUID. Propagated upstream. */
export function requestId(req: IncomingMessage): string {
  const inbound = req.headers['x-request-id'];
  return typeof inbound === 'string' && SAFE_ID.test(inbound) ? inbound : randomUUID();
}
