/**
 * A client that leaves while its request is being authorized holds nothing afterwards
 * (src/http/once-closed.ts): its fair share of the upstreams (docs/operations.md, "Upstream
 * fairness") is free again, so the subject's next request is forwarded, not refused with 429.
 * The token lookup is held open by pausing a real redis-server (SIGSTOP) for less than the
 * store's command timeout; the clients close their sockets during it.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { useGateway } from '../support/use-gateway.js';
import { request, settle, sleep } from './support.js';

const SHARE = 2;
const env = useGateway({
  redis: true,
  config: {
    store: { cacheTtlMs: 0, redis: { commandTimeoutMs: 10_000 } },
    upstream: { maxConcurrentPerSubject: SHARE },
  },
});

/** Token lookups the store has answered (the count of its duration histogram, every outcome). */
async function lookups(): Promise<number> {
  const text = (await request(`${env.gw.adminUrl}/metrics`)).body;
  return text
    .split('\n')
    .filter((l) => l.startsWith('ropc_store_duration_seconds_count{') && l.includes('operation="getAccess"'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** Sends one request on a socket of its own and returns the socket, left open. */
function sendOnly(port: number, token: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`GET /api/left HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

describe('clients that leave during the token lookup', () => {
  it('leave no fair-share slot held: the next request of the subject is forwarded', async () => {
    const token = await env.accessToken();
    const port = Number(new URL(env.gw.url).port);
    const before = await lookups();
    env.redis.pause();
    let resumed = false;
    try {
      const sockets = await Promise.all(Array.from({ length: SHARE + 1 }, () => sendOnly(port, token)));
      // The requests reach the gateway and wait on the paused store; a request that had not
      // arrived yet is closed before its lookup, which must hold nothing either.
      await sleep(300);
      for (const socket of sockets) socket.destroy();
      await sleep(100);
      env.redis.resume();
      resumed = true;
      // The lookups finish after their clients left: each would have taken a slot here.
      await settle(lookups, (n) => n >= before + SHARE + 1, 10_000);
    } finally {
      if (!resumed) env.redis.resume();
    }
    for (let i = 0; i < SHARE + 1; i += 1) {
      const res = await fetch(`${env.gw.url}/api/after`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
  });
});
