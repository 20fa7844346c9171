/** A real upstream for tests: the dev echo server on an ephemeral port, plus knobs for faults. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEchoUpstream } from '../../src/dev/echo-upstream.js';

export interface Upstream {
  readonly url: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

export async function startEchoUpstream(handler?: http.RequestListener): Promise<Upstream> {
  const server = handler ? http.createServer(handler) : createEchoUpstream();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on which nothing listens (bound then released). */
export async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
