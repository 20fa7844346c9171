/**
 * Helpers of the robustness suite: raw-socket clients, socket accounting and bounded polls.
 * The gateway runs in the test process (start-gateway.ts), so the process's own handles are
 * the gateway's plus the test's.
 */
import http from 'node:http';
import net from 'node:net';

export { settle, sleep } from '../support/wait-for.js';

/** Open TCP sockets of this process (clients, accepted connections, upstream connections). */
export function openSockets(): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h) => h instanceof net.Socket && !h.destroyed && (h.remotePort !== undefined || h.localPort !== undefined)).length;
}

/** Open sockets of this process connected to `port` on the loopback: a client's (or an agent's) connections to that server. */
export function socketsTo(port: number): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h) => h instanceof net.Socket && !h.destroyed && h.remotePort === port).length;
}

/** Connections a server holds now. */
export function connectionsOf(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, count) => (err ? reject(err) : resolve(count))));
}

/** A value of one series from a Prometheus text exposition (`name` or `name{labels}` exactly). */
export async function metricValue(adminUrl: string, series: string): Promise<number> {
  const text = (await request(`${adminUrl}/metrics`)).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return Number(line?.split(' ').pop() ?? NaN);
}

/**
 * One request on a connection of its own, closed after the answer (unlike fetch, whose shared
 * keep-alive pool would hold sockets that socket counts would then see).
 */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A raw HTTP/1.1 exchange on its own connection. */
export interface RawExchange {
  readonly socket: net.Socket;
  /** Everything received so far (latin1). */
  text(): string;
  /** Resolves when at least `bytes` bytes have arrived, or the socket closed. */
  received(bytes: number): Promise<void>;
  /** Resolves when the server closed the connection (or after `timeoutMs`, with false). */
  closed(timeoutMs: number): Promise<boolean>;
}

/** Opens a connection to `port` and writes `head` (and `body`, when given) once connected. */
export function rawRequest(port: number, head: string, body?: Buffer): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let size = 0;
    let isClosed = false;
    const waiters: (() => void)[] = [];
    const wake = (): void => {
      for (const w of waiters.splice(0)) w();
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      isClosed = true;
      wake();
    });
    socket.once('connect', () => {
      socket.write(head);
      if (body) socket.write(body);
      resolve({
        socket,
        text: () => Buffer.concat(chunks).toString('latin1'),
        received: (bytes) =>
          new Promise<void>((done) => {
            const check = (): void => {
              if (size >= bytes || isClosed) done();
              else waiters.push(check);
            };
            check();
          }),
        closed: (timeoutMs) =>
          new Promise<boolean>((done) => {
            const timer = setTimeout(() => done(false), timeoutMs);
            const check = (): void => {
              if (isClosed) {
                clearTimeout(timer);
                done(true);
              } else waiters.push(check);
            };
            check();
          }),
      });
    });
    socket.once('error', reject);
  });
}

/** The status code of a raw answer, 0 when none arrived. */
export function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}
