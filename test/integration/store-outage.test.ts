/**
 * Fail closed (docs/security.md): with Redis stopped or hung, both paths answer 503 within about
 * two seconds and never let a request through; when Redis returns the gateway recovers
 * without a restart.
 */
import { describe, expect, it } from 'vitest';
import { useGateway } from '../support/use-gateway.js';

let upstreamHits = 0;
const env = useGateway({
  redis: true,
  upstream: (_req, res) => {
    upstreamHits += 1;
    res.end('ok');
  },
});

const login = () => env.password();

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - start };
}

describe.each(['stopped', 'hung'] as const)('Redis %s', (fault) => {
  it('answers 503 on both paths, lets nothing through, and recovers', async () => {
    const token = (await login()).json.access_token as string;
    expect((await fetch(`${env.gw.url}/api`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const hits = upstreamHits;

    if (fault === 'stopped') await env.redis.stop();
    else env.redis.pause();
    try {
      const resource = await timed(() => fetch(`${env.gw.url}/api`, { headers: { authorization: `Bearer ${token}` } }));
      expect(resource.value.status).toBe(503);
      expect(resource.value.headers.get('retry-after')).toBeTruthy();
      expect(await resource.value.json()).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the service is temporarily unavailable, retry later',
      });
      expect(resource.ms).toBeLessThan(2500);
      expect(upstreamHits).toBe(hits);

      const token2 = await timed(login);
      expect(token2.value.status).toBe(503);
      expect(token2.value.json.error).toBe('temporarily_unavailable');
      expect(token2.ms).toBeLessThan(4000);

      const ready = await fetch(`${env.gw.adminUrl}/readyz`);
      expect(ready.status).toBe(503);
      // The scrape runs the same ping: the store reads down.
      expect(await (await fetch(`${env.gw.adminUrl}/metrics`)).text()).toMatch(/^ropc_store_up 0$/m);
    } finally {
      if (fault === 'stopped') await env.redis.restart();
      else env.redis.resume();
    }
    await expect.poll(async () => (await login()).status, { timeout: 15_000, interval: 250 }).toBe(200);
    expect((await fetch(`${env.gw.adminUrl}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${env.gw.adminUrl}/metrics`)).text()).toMatch(/^ropc_store_up 1$/m);
    // A stopped Redis drops the connection; its return is logged once, so the log does not just go quiet.
    if (fault === 'stopped') expect(env.gw.logs().filter((l) => l['msg'] === 'redis is reachable again')).toHaveLength(1);
  });
});
