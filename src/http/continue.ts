/**
 * `Expect: 100-continue` (RFC 9110 §10.1.1) on the resource path: the public listener handles
 * Node's 'checkContinue' itself and marks the answer here; a forwarder sends `100 Continue`
 * only once the request is authorized, just before it streams the body upstream. A refused
 * request gets its final answer without a 100, so the client never sends the body.
 */
import type { ServerResponse } from 'node:http';

const expecting = new WeakSet<ServerResponse>();

/** The client asked for 100-continue and has not had it. */
export function expectContinue(res: ServerResponse): void {
  expecting.add(res);
}

/** The client asked for 100-continue and has not had it yet. */
export function awaitingContinue(res: ServerResponse): boolean {
  return expecting.has(res);
}

/** Sends `100 Continue` if the client waits for it (at most once). */
export function sendContinue(res: ServerResponse): void {
  if (expecting.delete(res) && !res.headersSent) res.writeContinue();
}
