/**
 * The AttemptStore contract (security/attempt-store.ts), run against the memory store and the
 * Redis store on a real redis-server, single node and a one-node Redis Cluster (which refuses
 * cross-slot scripts), plus the Redis key layout. Real time, short durations.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AttemptStore, LockPolicy } from '../../src/security/attempt-store.js';
import { MemoryAttemptStore } from '../../src/security/attempt-store-memory.js';
import { RedisAttemptStore } from '../../src/security/attempt-store-redis.js';
import { ipKey, userKey } from '../../src/security/lockout.js';
import { createRedisClient, waitForReady } from '../../src/tokens/redis-connection.js';
import { redisStoreConfig, startRedis, type RedisProcess } from '../support/start-redis.js';

let redis: RedisProcess;
let cluster: RedisProcess;
const clients: (Redis | Cluster)[] = [];

beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedis({ cluster: true })]);
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

async function connect(server: RedisProcess, asCluster = false): Promise<Redis | Cluster> {
  const client = createRedisClient(asCluster ? redisStoreConfig('', { cluster: [`127.0.0.1:${server.port}`] }) : redisStoreConfig(server.url));
  await waitForReady(client, 5000);
  clients.push(client);
  return client;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const POLICY: LockPolicy = { maxFailures: 3, lockMs: 300, maxLockMs: 700, resetMs: 60_000 };
const unique = (): string => randomBytes(8).toString('hex');

function attemptStoreContract(name: string, make: () => Promise<AttemptStore>): void {
  describe(`AttemptStore contract: ${name}`, () => {
    let store: AttemptStore;
    let user: string;
    beforeEach(async () => {
      store = await make();
      user = userKey(unique());
    });
    afterEach(() => store.close());

    it('knows nothing of a new user or IP', async () => {
      expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: false });
      expect(await store.ipFailures(ipKey(unique()))).toBe(0);
    });

    it('locks at the maxFailures-th consecutive failure and starts a new count', async () => {
      expect(await store.userFailure(user, POLICY)).toBe(0);
      expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: true });
      expect(await store.userFailure(user, POLICY)).toBe(0);
      expect(await store.userFailure(user, POLICY)).toBe(300);
      const state = await store.userState(user);
      expect(state.lockedMs).toBeGreaterThan(200);
      expect(state.lockedMs).toBeLessThanOrEqual(300);
      // Failures while locked do not count.
      expect(await store.userFailure(user, POLICY)).toBe(0);
      await sleep(320);
      expect((await store.userState(user)).lockedMs).toBe(0);
      expect(await store.userFailure(user, POLICY)).toBe(0);
      expect(await store.userFailure(user, POLICY)).toBe(0);
    });

    it('doubles each further lock up to maxLockMs', async () => {
      const lockOnce = async (): Promise<number> => {
        let locked = 0;
        for (let i = 0; i < POLICY.maxFailures; i++) locked = await store.userFailure(user, POLICY);
        return locked;
      };
      expect(await lockOnce()).toBe(300);
      await sleep(320);
      expect(await lockOnce()).toBe(600);
      await sleep(620);
      expect(await lockOnce()).toBe(700);
    });

    it('forgets failures and the level on success, and ends a lock', async () => {
      for (let i = 0; i < 3; i++) await store.userFailure(user, POLICY);
      expect((await store.userState(user)).lockedMs).toBeGreaterThan(0);
      await store.userSuccess(user);
      expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: false });
      let locked = 0;
      for (let i = 0; i < 3; i++) locked = await store.userFailure(user, POLICY);
      expect(locked).toBe(300);
    });

    it('forgets failures resetMs after the last one', async () => {
      const policy = { ...POLICY, resetMs: 250 };
      await store.userFailure(user, policy);
      await store.userFailure(user, policy);
      await sleep(300);
      expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: false });
      expect(await store.userFailure(user, policy)).toBe(0);
      expect(await store.userFailure(user, policy)).toBe(0);
    });

    it('counts exactly under concurrency: one lock from 20 parallel failures', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => store.userFailure(user, POLICY)));
      expect(results.filter((ms) => ms > 0)).toEqual([300]);
    });

    it('counts IP failures in a window that starts with the first one', async () => {
      const ip = ipKey(unique());
      expect(await store.ipFailure(ip, 300)).toBe(1);
      expect(await store.ipFailure(ip, 300)).toBe(2);
      const parallel = await Promise.all(Array.from({ length: 10 }, () => store.ipFailure(ip, 300)));
      expect(parallel.sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(await store.ipFailures(ip)).toBe(12);
      await sleep(350);
      expect(await store.ipFailures(ip)).toBe(0);
      expect(await store.ipFailure(ip, 300)).toBe(1);
    });
  });
}

attemptStoreContract('memory', async () => new MemoryAttemptStore());
attemptStoreContract('redis', async () => new RedisAttemptStore(await connect(redis), `t${unique()}:`));
attemptStoreContract('redis cluster', async () => new RedisAttemptStore(await connect(cluster, true), `t${unique()}:`));

describe('RedisAttemptStore key layout', () => {
  it('keeps hash-tagged, opaque keys with expiries, and no username', async () => {
    const client = await connect(redis);
    const prefix = `t${unique()}:`;
    const store = new RedisAttemptStore(client, prefix);
    const u = userKey('Gina@Example.org');
    const ip = ipKey('192.0.2.1');
    for (let i = 0; i < 3; i++) await store.userFailure(u, POLICY);
    await store.ipFailure(ip, 60_000);
    const keys = (await client.keys(`${prefix}*`)).sort();
    expect(keys).toEqual([`${prefix}lockout:{ip:${ip}}`, `${prefix}lockout:{u:${u}}:lock`, `${prefix}lockout:{u:${u}}:n`].sort());
    expect(keys.join(' ')).not.toMatch(/gina|192\.0\.2\.1/i);
    for (const key of keys) expect(await client.pttl(key)).toBeGreaterThan(0);
    expect(await client.pttl(`${prefix}lockout:{u:${u}}:n`)).toBeGreaterThan(60_000);
    expect(await client.hgetall(`${prefix}lockout:{u:${u}}:n`)).toEqual({ f: '0', n: '1' });
  });
});
