/**
 * Connection hygiene of the public listener (docs/operations.md, "Connection limits"):
 *
 * - per-peer cap (`server.limits.connectionsPerIp`): a connection beyond it is destroyed at
 *   once, before any byte is read, and counted;
 * - first-byte timeout (`server.limits.firstByteTimeoutMs`): a connection that sends nothing
 *   is destroyed; the first request lifts the timer (then Node's headers, request and
 *   keep-alive timeouts take over);
 * - {@link watchBodyRate}: a body that trickles in below `server.limits.minBodyBytesPerSecond`
 *   is reported, so the listener can cut it with 408;
 * - {@link closeAfterAnswer}: once a refusal is flushed the socket is destroyed, instead of
 *   half-closed and left to the peer (which could keep its descriptor forever).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { onceClosed } from './once-closed.js';

/**
 * How long a socket still reads (and discards) after its final answer was flushed before it
 * is destroyed: closing with unread input makes the kernel send RST, which can make the peer
 * lose the answer it has not read yet (the "lingering close" of RFC 9112 §9.6).
 */
const LINGER_MS = 1000;

export interface ConnectionGuardOptions {
  /** 0 = no limit. */
  readonly connectionsPerIp: number;
  readonly firstByteTimeoutMs: number;
  /** TLS: the handshake must finish within the timeout, then the timer runs on the decrypted socket. */
  readonly tls: boolean;
  /** A connection was refused for its peer's cap. */
  readonly onRefused: () => void;
}

/** Applies the per-peer cap and the first-byte timeout; returns the call that lifts the timer at the first request. */
export function guardConnections(server: Server, options: ConnectionGuardOptions): (socket: Socket) => void {
  const perIp = new Map<string, number>();
  const waiting = new WeakSet<Socket>();
  // TLS connections whose handshake has not finished, by peer address and port (the TLS
  // socket of 'secureConnection' has the same ones as the TCP socket of 'connection').
  const handshaking = new Map<string, () => void>();

  server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? '';
    if (options.connectionsPerIp > 0) {
      const open = perIp.get(ip) ?? 0;
      if (open >= options.connectionsPerIp) {
        options.onRefused();
        socket.destroy();
        return;
      }
      perIp.set(ip, open + 1);
      socket.once('close', () => {
        const left = (perIp.get(ip) ?? 1) - 1;
        if (left <= 0) perIp.delete(ip);
        else perIp.set(ip, left);
      });
    }
    if (!options.tls) return awaitFirstRequest(socket);
    const key = peerKey(socket);
    const timer = setTimeout(() => socket.destroy(), options.firstByteTimeoutMs).unref();
    const done = (): void => {
      clearTimeout(timer);
      handshaking.delete(key);
    };
    handshaking.set(key, done);
    socket.once('close', done);
  });
  if (options.tls) {
    server.on('secureConnection', (socket: Socket) => {
      handshaking.get(peerKey(socket))?.();
      awaitFirstRequest(socket);
    });
  }

  function awaitFirstRequest(socket: Socket): void {
    waiting.add(socket);
    // An idle timer: any byte read restarts it (Node's HTTP parser does so for each chunk).
    socket.setTimeout(options.firstByteTimeoutMs);
    socket.once('timeout', onIdle);
  }

  return (socket: Socket) => {
    if (!waiting.delete(socket)) return;
    socket.removeListener('timeout', onIdle);
    socket.setTimeout(0);
  };
}

function peerKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}\0${socket.remotePort ?? ''}`;
}

function onIdle(this: Socket): void {
  this.destroy();
}

/** Window over which a body's transfer rate is measured. */
export const BODY_RATE_WINDOW_MS = 5000;

/**
 * Calls `tooSlow` once when, over a whole {@link BODY_RATE_WINDOW_MS} window, fewer than
 * `minBytesPerSecond` per second of `req`'s body arrived while nothing of it was waiting to be
 * read (a window in which the gateway's reader — the upstream — held the body back, or in which
 * `notInvited()` holds because the client still waits for `100 Continue`, does not count). Stops when the body is complete or the request closes.
 */
export function watchBodyRate(req: IncomingMessage, minBytesPerSecond: number, tooSlow: () => void, notInvited: () => boolean): void {
  const socket = req.socket;
  let last = socket.bytesRead;
  const timer = setInterval(() => {
    const read = socket.bytesRead;
    const arrived = read - last;
    last = read;
    if (req.complete) return stop();
    const heldBack = req.readableLength > 0 || req.isPaused() || notInvited();
    if (!heldBack && arrived < (minBytesPerSecond * BODY_RATE_WINDOW_MS) / 1000) {
      stop();
      tooSlow();
    }
  }, BODY_RATE_WINDOW_MS).unref();
  const stop = (): void => clearInterval(timer);
  req.once('end', stop);
  onceClosed(req, stop);
}

/**
 * Ends `socket` once what was written is flushed and destroys it shortly after, whether or
 * not the peer closes its side (see LINGER_MS).
 */
export function closeAfterAnswer(socket: Duplex): void {
  if (socket.destroyed) return;
  const linger = (): void => {
    socket.resume();
    socket.once('end', () => socket.destroy());
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
  if (socket.writableFinished) {
    linger();
    return;
  }
  socket.once('finish', linger);
  socket.end();
}

/**
 * At most `perSecond` calls of `log` per second; the next call after a quiet spell reports
 * how many were suppressed in between.
 */
export function rateLimited<T>(perSecond: number, log: (entry: T, suppressed: number) => void): (entry: T) => void {
  let windowStart = 0;
  let inWindow = 0;
  let suppressed = 0;
  return (entry) => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      inWindow = 0;
    }
    if (inWindow >= perSecond) {
      suppressed += 1;
      return;
    }
    inWindow += 1;
    log(entry, suppressed);
    suppressed = 0;
  };
}
