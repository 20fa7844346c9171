/**
 * The AttemptStore contract (security/attempt-store.ts), run against the memory store and the
 * Redis store on a real redis-server, single node and a one-node Redis Cluster (which refuses
 * cross-slot scripts), plus the Redis key layout. The memory store runs on a clock the test moves;
 * Redis on real time, short durations.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AttemptResult, AttemptStore, IpPolicy, LockPolicy } from '../../src/security/attempt-store.js';
import { MemoryAttemptStore } from '../../src/security/attempt-store-memory.js';
import { RedisAttemptStore } from '../../src/security/attempt-store-redis.js';
import { ipKey, userKey } from '../../src/security/lockout.js';
import { createRedisClient, waitForReady } from '../../src/tokens/redis-connection.js';
import { redisStoreConfig, startRedis, type RedisProcess } from '../support/start-redis.js';
import { TestClock } from '../support/test-clock.js';
import { sleep } from '../support/wait-for.js';

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
  const client = createRedisClient(
    asCluster ? redisStoreConfig('', { cluster: [`127.0.0.1:${server.port}`] }) : redisStoreConfig(server.url),
  );
  await waitForReady(client, 5000);
  clients.push(client);
  return client;
}

const POLICY: LockPolicy = { maxFailures: 3, lockMs: 300, maxLockMs: 700, resetMs: 60_000, ttlMs: 60_000 };
const IP_POLICY: IpPolicy = { budget: 10, windowMs: 60_000, ttlMs: 60_000 };
const unique = (): string => randomBytes(8).toString('hex');

/** One failure settled without a reservation (the store settles unknown ids all the same). */
const userFailure = (store: AttemptStore, user: string, policy: LockPolicy = POLICY): Promise<number> =>
  store.settleUser(user, unique(), 'failure', policy);
const userSuccess = (store: AttemptStore, user: string): Promise<number> => store.settleUser(user, unique(), 'success', POLICY);
const ipFailure = (store: AttemptStore, ip: string, windowMs: number): Promise<number> =>
  store.settleIp(ip, unique(), 'failure', { ...IP_POLICY, windowMs });

/**
 * @param make a store on fresh counters.
 * @param peer a second store on the same counters through a connection of its own (another
 *   replica); the memory store's peer is itself (it is one process's).
 * @param elapse lets `ms` of the store's time pass: the memory store's clock is moved; Redis
 *   keeps its own time (key TTLs), so for it this waits for real.
 */
function attemptStoreContract(
  name: string,
  make: () => Promise<AttemptStore>,
  peer: (store: AttemptStore) => Promise<AttemptStore>,
  elapse: (store: AttemptStore, ms: number) => Promise<void> = (_, ms) => sleep(ms),
): void {
  describe(`AttemptStore contract: ${name}`, () => {
    let store: AttemptStore;
    let other: AttemptStore;
    let user: string;
    beforeEach(async () => {
      store = await make();
      other = await peer(store);
      user = userKey(unique());
    });
    afterEach(() => store.close());

    describe('reservations: the check and the slot are one atomic step', () => {
      const reserveMany = (count: number, reserve: (s: AttemptStore, id: string) => Promise<unknown>) =>
        Promise.all(Array.from({ length: count }, (_, i) => reserve(i % 2 ? other : store, `r${i}`)));

      it('admits exactly maxFailures of 200 concurrent user reservations over two replicas; the rest are busy', async () => {
        const answers = await reserveMany(200, (s, id) => s.reserveUser(user, id, POLICY));
        expect(answers.filter((a) => a === 'reserved')).toHaveLength(POLICY.maxFailures);
        expect(answers.filter((a) => a === 'busy')).toHaveLength(200 - POLICY.maxFailures);
      });

      it('turns reservations into failures: the last one locks, then every reservation is refused as locked', async () => {
        const ids = ['a', 'b', 'c'];
        for (const id of ids) expect(await store.reserveUser(user, id, POLICY)).toBe('reserved');
        const locks = await Promise.all(ids.map((id, i) => (i % 2 ? other : store).settleUser(user, id, 'failure', POLICY)));
        expect(locks.sort((x, y) => x - y)).toEqual([0, 0, 300]);
        expect(await other.reserveUser(user, 'd', POLICY)).toBe('locked');
      });

      it('gives a released slot back without counting, and a success forgets the failures', async () => {
        expect(await store.reserveUser(user, 'a', POLICY)).toBe('reserved');
        expect(await store.reserveUser(user, 'b', POLICY)).toBe('reserved');
        expect(await store.reserveUser(user, 'c', POLICY)).toBe('reserved');
        expect(await other.reserveUser(user, 'd', POLICY)).toBe('busy');
        expect(await store.settleUser(user, 'a', 'released', POLICY)).toBe(0);
        expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: false });
        expect(await other.reserveUser(user, 'd', POLICY)).toBe('reserved');
        await store.settleUser(user, 'b', 'failure', POLICY);
        await store.settleUser(user, 'c', 'failure', POLICY);
        // Two failures and one in flight: full.
        expect(await store.reserveUser(user, 'e', POLICY)).toBe('busy');
        await other.settleUser(user, 'd', 'success', POLICY);
        expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: false });
        for (const id of ['f', 'g', 'h']) expect(await store.reserveUser(user, id, POLICY)).toBe('reserved');
      });

      it('lets an unsettled reservation lapse after ttlMs (a replica that died)', async () => {
        const short = { ...POLICY, ttlMs: 200 };
        for (const id of ['a', 'b', 'c']) expect(await store.reserveUser(user, id, short)).toBe('reserved');
        expect(await store.reserveUser(user, 'd', short)).toBe('busy');
        await elapse(store, 250);
        expect(await other.reserveUser(user, 'd', short)).toBe('reserved');
        const ip = ipKey(unique());
        const ipShort = { ...IP_POLICY, budget: 1, ttlMs: 200 };
        expect(await store.reserveIp(ip, 'a', ipShort)).toBe('reserved');
        expect(await store.reserveIp(ip, 'b', ipShort)).toBe('busy');
        await elapse(store, 250);
        expect(await other.reserveIp(ip, 'b', ipShort)).toBe('reserved');
      });

      it('admits exactly the budget of 300 concurrent IP reservations over two replicas; failures fill it, releases do not', async () => {
        const ip = ipKey(unique());
        const answers = await reserveMany(300, (s, id) => s.reserveIp(ip, id, IP_POLICY));
        expect(answers.filter((a) => a === 'reserved')).toHaveLength(IP_POLICY.budget);
        expect(answers.filter((a) => a === 'busy')).toHaveLength(300 - IP_POLICY.budget);
        const granted = answers.flatMap((a, i) => (a === 'reserved' ? [`r${i}`] : []));
        // Half fail, half are released (an outage): the budget then has room for the released half only.
        const settled = await Promise.all(granted.map((id, i) => store.settleIp(ip, id, i % 2 ? 'released' : 'failure', IP_POLICY)));
        expect(settled.filter((n) => n > 0).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
        expect(await store.ipFailures(ip)).toBe(5);
        const again = await reserveMany(50, (s, id) => s.reserveIp(ip, `again${id}`, IP_POLICY));
        expect(again.filter((a) => a === 'reserved')).toHaveLength(5);
        // Failures alone at the budget: blocked, not busy.
        await Promise.all(again.flatMap((a, i) => (a === 'reserved' ? [store.settleIp(ip, `againr${i}`, 'failure', IP_POLICY)] : [])));
        expect(await store.reserveIp(ip, 'late', IP_POLICY)).toBe('blocked');
      });
    });

    it('knows nothing of a new user or IP', async () => {
      expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: false });
      expect(await store.ipFailures(ipKey(unique()))).toBe(0);
    });

    it('locks at the maxFailures-th consecutive failure and starts a new count', async () => {
      expect(await userFailure(store, user, POLICY)).toBe(0);
      expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: true });
      expect(await userFailure(store, user, POLICY)).toBe(0);
      expect(await userFailure(store, user, POLICY)).toBe(300);
      const state = await store.userState(user);
      expect(state.lockedMs).toBeGreaterThan(200);
      expect(state.lockedMs).toBeLessThanOrEqual(300);
      // Failures while locked do not count.
      expect(await userFailure(store, user, POLICY)).toBe(0);
      await elapse(store, 320);
      expect((await store.userState(user)).lockedMs).toBe(0);
      expect(await userFailure(store, user, POLICY)).toBe(0);
      expect(await userFailure(store, user, POLICY)).toBe(0);
    });

    it('doubles each further lock up to maxLockMs', async () => {
      const lockOnce = async (): Promise<number> => {
        let locked = 0;
        for (let i = 0; i < POLICY.maxFailures; i++) locked = await userFailure(store, user, POLICY);
        return locked;
      };
      expect(await lockOnce()).toBe(300);
      await elapse(store, 320);
      expect(await lockOnce()).toBe(600);
      await elapse(store, 620);
      expect(await lockOnce()).toBe(700);
    });

    it('forgets failures and the level on success, and ends a lock', async () => {
      for (let i = 0; i < 3; i++) await userFailure(store, user, POLICY);
      expect((await store.userState(user)).lockedMs).toBeGreaterThan(0);
      await userSuccess(store, user);
      expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: false });
      let locked = 0;
      for (let i = 0; i < 3; i++) locked = await userFailure(store, user, POLICY);
      expect(locked).toBe(300);
    });

    it('forgets failures resetMs after the last one', async () => {
      const policy = { ...POLICY, resetMs: 250 };
      await userFailure(store, user, policy);
      await userFailure(store, user, policy);
      await elapse(store, 300);
      expect(await store.userState(user)).toEqual({ lockedMs: 0, recorded: false });
      expect(await userFailure(store, user, policy)).toBe(0);
      expect(await userFailure(store, user, policy)).toBe(0);
    });

    it('counts exactly under concurrency: one lock from 20 parallel failures', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => userFailure(store, user, POLICY)));
      expect(results.filter((ms) => ms > 0)).toEqual([300]);
    });

    it('counts IP failures in a window that starts with the first one', async () => {
      const ip = ipKey(unique());
      expect(await ipFailure(store, ip, 300)).toBe(1);
      expect(await ipFailure(store, ip, 300)).toBe(2);
      const parallel = await Promise.all(Array.from({ length: 10 }, () => ipFailure(store, ip, 300)));
      expect(parallel.sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(await store.ipFailures(ip)).toBe(12);
      await elapse(store, 350);
      expect(await store.ipFailures(ip)).toBe(0);
      expect(await ipFailure(store, ip, 300)).toBe(1);
    });
  });
}

/** Redis stores remember their prefix, so a peer can share the counters on a connection of its own. */
const prefixes = new WeakMap<AttemptStore, string>();
const redisStore = async (server: RedisProcess, asCluster: boolean, prefix = `t${unique()}:`): Promise<AttemptStore> => {
  const store = new RedisAttemptStore(await connect(server, asCluster), prefix);
  prefixes.set(store, prefix);
  return store;
};

/** The memory stores' clocks, moved instead of sleeping. */
const clocks = new WeakMap<AttemptStore, TestClock>();
const memoryStore = async (): Promise<AttemptStore> => {
  const clock = new TestClock();
  const store = new MemoryAttemptStore({ clock });
  clocks.set(store, clock);
  return store;
};

attemptStoreContract(
  'memory',
  memoryStore,
  async (store) => store,
  async (store, ms) => (clocks.get(store) as TestClock).advance(ms),
);
attemptStoreContract(
  'redis (real time)',
  () => redisStore(redis, false),
  (store) => redisStore(redis, false, prefixes.get(store)),
);
attemptStoreContract(
  'redis cluster (real time)',
  () => redisStore(cluster, true),
  (store) => redisStore(cluster, true, prefixes.get(store)),
);

describe('RedisAttemptStore key layout', () => {
  it('keeps hash-tagged, opaque keys with expiries, and no username', async () => {
    const client = await connect(redis);
    const prefix = `t${unique()}:`;
    const store = new RedisAttemptStore(client, prefix);
    const u = userKey('Gina@Example.org');
    const ip = ipKey('192.0.2.1');
    for (let i = 0; i < 3; i++) await userFailure(store, u, POLICY);
    await ipFailure(store, ip, 60_000);
    const keys = (await client.keys(`${prefix}*`)).sort();
    expect(keys).toEqual([`${prefix}lockout:{ip:${ip}}`, `${prefix}lockout:{u:${u}}:lock`, `${prefix}lockout:{u:${u}}:n`].sort());
    expect(keys.join(' ')).not.toMatch(/gina|192\.0\.2\.1/i);
    for (const key of keys) expect(await client.pttl(key)).toBeGreaterThan(0);
    expect(await client.pttl(`${prefix}lockout:{u:${u}}:n`)).toBeGreaterThan(60_000);
    expect(await client.hgetall(`${prefix}lockout:{u:${u}}:n`)).toEqual({ f: '0', n: '1' });
  });
});

describe('RedisAttemptStore reserveIpAndUser: the IP, then the user, in one round trip', () => {
  const both = (store: RedisAttemptStore, ip: string, user: string, ipPolicy: IpPolicy = IP_POLICY) => {
    if (!store.reserveIpAndUser) throw new Error('a one-node store offers reserveIpAndUser');
    return store.reserveIpAndUser(ip, unique(), ipPolicy, user, unique(), POLICY);
  };

  it('is not offered under Cluster, where a user and an IP are in two slots', async () => {
    expect(new RedisAttemptStore(await connect(cluster, true), `t${unique()}:`).reserveIpAndUser).toBeUndefined();
  });

  it('takes both slots when both are free, counted as the two calls count them', async () => {
    const client = await connect(redis);
    const prefix = `t${unique()}:`;
    const store = new RedisAttemptStore(client, prefix);
    const [u, ip] = [userKey(unique()), ipKey('192.0.2.10')];
    expect(await both(store, ip, u)).toEqual({ ip: 'reserved', user: 'reserved' });
    expect(await client.zcard(`${prefix}lockout:{u:${u}}:r`)).toBe(1);
    expect(await client.zcard(`${prefix}lockout:{ip:${ip}}:r`)).toBe(1);
    // maxFailures 3: two more in flight fill the user's slots; the fourth is busy, its IP slot held.
    await both(store, ip, u);
    await both(store, ip, u);
    expect(await both(store, ip, u)).toEqual({ ip: 'reserved', user: 'busy' });
  });

  it('touches no user slot when the IP is blocked or busy, and says the user is locked', async () => {
    const client = await connect(redis);
    const prefix = `t${unique()}:`;
    const store = new RedisAttemptStore(client, prefix);
    const [u, ip, other] = [userKey(unique()), ipKey('192.0.2.11'), ipKey('192.0.2.12')];
    const small: IpPolicy = { ...IP_POLICY, budget: 2 };
    await store.settleIp(ip, unique(), 'failure', small);
    expect(await both(store, ip, u, small)).toEqual({ ip: 'reserved', user: 'reserved' });
    // One failure and one attempt in flight fill the budget of 2: busy.
    expect(await both(store, ip, u, small)).toEqual({ ip: 'busy', user: undefined });
    await store.settleIp(ip, unique(), 'failure', small);
    expect(await both(store, ip, u, small)).toEqual({ ip: 'blocked', user: undefined });
    expect(await client.zcard(`${prefix}lockout:{u:${u}}:r`)).toBe(1);
    for (let i = 0; i < 3; i++) await userFailure(store, u);
    expect(await both(store, other, u)).toEqual({ ip: 'reserved', user: 'locked' });
  });
});

describe('RedisAttemptStore settleIpAndUser: both settlements in one round trip', () => {
  it('is not offered under Cluster', async () => {
    expect(new RedisAttemptStore(await connect(cluster, true), `t${unique()}:`).settleIpAndUser).toBeUndefined();
  });

  it('answers and counts as settleIp and settleUser do, for every result', async () => {
    const client = await connect(redis);
    const results: AttemptResult[] = ['failure', 'failure', 'success', 'failure', 'released', 'failure', 'failure', 'failure'];
    /** Runs the sequence with the combined script or the two calls; returns the answers and the counters left. */
    const run = async (combined: boolean) => {
      const prefix = `t${unique()}:`;
      const store = new RedisAttemptStore(client, prefix);
      const [u, ip] = [userKey('same-user'), ipKey('192.0.2.20')];
      const answers: { ipFailures: number; userLockedMs: number }[] = [];
      for (const result of results) {
        const [ipId, id] = [unique(), unique()];
        await store.reserveIpAndUser?.(ip, ipId, IP_POLICY, u, id, POLICY);
        if (combined) {
          if (!store.settleIpAndUser) throw new Error('a one-node store offers settleIpAndUser');
          answers.push(await store.settleIpAndUser(ip, ipId, result, IP_POLICY, u, id, POLICY));
        } else {
          const [ipFailures, userLockedMs] = await Promise.all([
            store.settleIp(ip, ipId, result, IP_POLICY),
            store.settleUser(u, id, result, POLICY),
          ]);
          answers.push({ ipFailures, userLockedMs });
        }
      }
      const state = {
        user: await client.hgetall(`${prefix}lockout:{u:${u}}:n`),
        locked: (await client.pttl(`${prefix}lockout:{u:${u}}:lock`)) > 0,
        userInFlight: await client.zcard(`${prefix}lockout:{u:${u}}:r`),
        ipCount: await client.get(`${prefix}lockout:{ip:${ip}}`),
        ipInFlight: await client.zcard(`${prefix}lockout:{ip:${ip}}:r`),
      };
      return { answers, state };
    };
    const separate = await run(false);
    const together = await run(true);
    expect(together).toEqual(separate);
    // The third failure after the success locks the user (maxFailures 3); the one after, while
    // locked, counts for the IP only. Six IP failures, nothing left in flight.
    expect(together.answers.slice(-2)).toEqual([
      { ipFailures: 5, userLockedMs: 300 },
      { ipFailures: 6, userLockedMs: 0 },
    ]);
    expect(together.state).toMatchObject({ locked: true, userInFlight: 0, ipInFlight: 0, ipCount: '6' });
  });
});
