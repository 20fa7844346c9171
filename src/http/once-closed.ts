/**
 * Runs `fn` once a response or socket has closed — at once when it already has. Node emits
 * `close` only once: a listener added after an asynchronous step (the token lookup, the
 * authorization of an upgrade) misses a client that left during that step, and whatever the
 * listener releases (a fair-share slot, a span, an upgraded-socket count) would be held for
 * the life of the process. Every `close` listener on a request's response or socket goes
 * through here.
 */
export function onceClosed(
  stream: { readonly closed: boolean; once(event: 'close', listener: () => void): unknown },
  fn: () => void,
): void {
  if (stream.closed) fn();
  else stream.once('close', fn);
}
