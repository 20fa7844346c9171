/**
 * Graceful shutdown (docs/operations.md, "Graceful shutdown"): what the listeners share while the
 * gateway stops, and the ordered stop itself.
 *
 *   1. drain      `/readyz` answers 503 at once; requests are still served for `drainMs`
 *                 (Kubernetes needs a few seconds to take the pod out of its Service), each
 *                 answer now carrying `Connection: close` so keep-alive clients move away;
 *   2. close      the public listener stops accepting; idle connections close; proxied
 *                 WebSocket connections are cut (they never "finish"; clients reconnect);
 *   3. in-flight  requests still running get up to `timeoutMs`, then their connections are cut;
 *   4. resources  upstream agents, the token store (Redis) and validators (LDAP) close;
 *   5. admin      the admin listener closes last, so probes see 503 rather than a refusal.
 */
import type { Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import { onceClosed } from './once-closed.js';

/**
 * Shared state of the listeners during the process's life, and the one place that adds
 * `Connection: close` while draining (RFC 9112 §9.6): to every answer whose head is written
 * after the drain began — requests that arrive while draining, and those in flight when it
 * began, whatever writes their answer (a forwarder, an endpoint, the error writer). Node then
 * closes the connection once that answer is sent, so keep-alive clients reconnect elsewhere.
 */
export class Lifecycle {
  #draining = false;
  /** Answers on the public port not finished yet. */
  readonly #answers = new Set<ServerResponse>();
  /** Upgraded (WebSocket) client sockets, which the HTTP server no longer tracks. */
  readonly upgraded = new Set<Duplex>();

  /** True from the first moment of shutdown. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Requests on the public port whose answer has not finished. */
  get inFlight(): number {
    return this.#answers.size;
  }

  /** Counts `res` in flight until it closes; it answers with `Connection: close` if the gateway drains before its head is written. */
  track(res: ServerResponse): void {
    this.#answers.add(res);
    if (this.#draining) closeAfter(res);
    onceClosed(res, () => this.#answers.delete(res));
  }

  /** Starts draining: every answer not yet started, and every later one, closes its connection. */
  drain(): void {
    this.#draining = true;
    for (const res of this.#answers) closeAfter(res);
  }
}

function closeAfter(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('connection', 'close');
}

export interface ShutdownOptions {
  readonly server: Server;
  readonly admin: Server;
  readonly lifecycle: Lifecycle;
  readonly drainMs: number;
  /** Bound on in-flight requests after the listener closed. */
  readonly timeoutMs: number;
  readonly logger?: Logger;
  /** Step 4; its failures are logged, never thrown. */
  readonly closeResources: () => Promise<unknown>;
}

export async function gracefulShutdown(options: ShutdownOptions): Promise<void> {
  const { server, admin, lifecycle, logger } = options;
  lifecycle.drain();
  if (options.drainMs > 0) await sleep(options.drainMs);

  logger?.info({ inFlight: lifecycle.inFlight, websockets: lifecycle.upgraded.size }, 'closing the public listener');
  const closed = closeServer(server);
  server.closeIdleConnections();
  for (const socket of lifecycle.upgraded) socket.destroy();
  // Answers that started before the drain did not say `Connection: close`: sweep their
  // sockets as soon as they go idle instead of waiting for the keep-alive timeout.
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), options.timeoutMs)));
  try {
    if ((await Promise.race([closed.then(() => 'closed' as const), deadline])) === 'timeout') {
      logger?.warn(
        { inFlight: lifecycle.inFlight, timeoutMs: options.timeoutMs },
        'in-flight requests did not finish in time; cutting their connections',
      );
      server.closeAllConnections();
      await closed;
    }
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
  }

  await options
    .closeResources()
    .catch((err: unknown) => logger?.warn({ err: { message: (err as Error).message } }, 'closing resources failed'));
  const adminClosed = closeServer(admin);
  admin.closeAllConnections();
  await adminClosed;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
