import { once } from 'node:events';
import { createServer } from 'node:net';

/**
 * A port the kernel just handed out on 127.0.0.1: free a moment ago, so callers that spawn a
 * server on it must retry on a collision. Never 6379, where a system Redis may run.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    server.close();
    await once(server, 'close');
    if (typeof address === 'object' && address !== null && address.port !== 6379) return address.port;
  }
}
