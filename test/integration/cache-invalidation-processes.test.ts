/**
 * Revocation reaches a replica in another OS process (docs/architecture.md): gateway A runs in this
 * process, replica B is the real CLI (`ropc-gateway start --config`, the compiled dist/) in a
 * child process with the same configuration: one redis-server, one key prefix, a 60 s token
 * cache. A token revoked on A is refused by B well inside the cache TTL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { waitFor } from '../support/wait-for.js';

let upstream: Upstream;
let redis: RedisProcess;
let a: TestGateway;
let replica: ChildProcess;
let replicaUrl = '';
let replicaOut = '';

beforeAll(async () => {
  upstream = await startEchoUpstream();
  redis = await startRedis();
  a = await startGateway({ upstream: upstream.url, redisUrl: redis.url, config: { store: { cacheTtlMs: 60_000 } } });
  replica = spawn(process.execPath, ['bin/ropc-gateway.js', 'start', '--config', join(a.dir, 'gateway.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  replica.stdout?.on('data', (c: Buffer) => (replicaOut += c.toString()));
  replica.stderr?.on('data', (c: Buffer) => (replicaOut += c.toString()));
  const listening = (): { port?: number } | undefined =>
    replicaOut
      .split('\n')
      .filter((l) => l.includes('"ropc-gateway listening"'))
      .map((l) => JSON.parse(l) as { port?: number })[0];
  await waitFor(() => listening() !== undefined || replica.exitCode !== null, 20_000, 'the replica to listen');
  const port = listening()?.port;
  if (replica.exitCode !== null || !port) throw new Error(`the replica did not start: ${replicaOut.slice(0, 2000)}`);
  replicaUrl = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  if (replica && replica.exitCode === null) {
    const exited = new Promise((r) => replica.once('exit', r));
    replica.kill('SIGTERM');
    await exited;
  }
  await a?.stop();
  await upstream?.close();
  await redis?.stop();
});

const call = async (base: string, token: string): Promise<number> =>
  (await fetch(`${base}/api`, { headers: { authorization: `Bearer ${token}` } })).status;

describe('cache invalidation across processes', () => {
  it('a token revoked on one gateway is refused by a replica process long before its cache entry runs out', async () => {
    const login = await postForm(a.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, {
      authorization: basicAuth(),
    });
    expect(login.status).toBe(200);
    const { access_token: access, refresh_token: refresh } = login.json as { access_token: string; refresh_token: string };
    // Warm the replica's cache.
    expect(await call(replicaUrl, access)).toBe(200);
    expect(await call(replicaUrl, access)).toBe(200);

    // Revoking the refresh token revokes the family, its access token included.
    const revoked = await postForm(a.revocationUrl, `token=${refresh}`, { authorization: basicAuth() });
    expect(revoked.status).toBe(200);
    // Polled for at most 10 s, a sixth of the 60 s cache TTL: only the invalidation can explain a refusal.
    await expect.poll(() => call(replicaUrl, access), { timeout: 10_000, interval: 10 }).toBe(401);
  });
});
