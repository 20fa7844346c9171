/**
 * The token store contract run against the memory store and against the Redis store on a real
 * redis-server (each store under its own key prefix), single node and a one-node Redis Cluster
 * (which refuses cross-slot scripts), plus the Redis key layout and TTLs that the contract
 * cannot see through the interface.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryTokenStore } from '../../src/tokens/memory-store.js';
import { createRedisClient, waitForReady } from '../../src/tokens/redis-connection.js';
import { RedisTokenStore } from '../../src/tokens/redis-store.js';
import { hashToken, newFamilyId, newToken } from '../../src/tokens/token-value.js';
import type { GrantRecord, NewFamily } from '../../src/tokens/types.js';
import { redisStoreConfig, startRedis, type RedisProcess } from '../support/start-redis.js';
import { TestClock } from '../support/test-clock.js';
import { tokenStoreContract } from './token-store.contract.js';

let redis: RedisProcess;
let cluster: RedisProcess;
/** Plain clients of their own for dumping and deleting keys, apart from the stores'. */
let admin: Redis | Cluster;
/** The one cluster node holds every slot, so a plain client reaches all its keys. */
let clusterAdmin: Redis | Cluster;

beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedis({ cluster: true })]);
  [admin, clusterAdmin] = await Promise.all([connect(), connectPlain(cluster)]);
});

afterAll(async () => {
  admin?.disconnect();
  clusterAdmin?.disconnect();
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

async function connect(server = redis): Promise<Redis | Cluster> {
  if (!server.cluster) return connectPlain(server);
  const client = createRedisClient(redisStoreConfig('', { cluster: [`127.0.0.1:${server.port}`] }));
  await waitForReady(client, 5000);
  return client;
}

async function connectPlain(server: RedisProcess): Promise<Redis | Cluster> {
  const client = createRedisClient(redisStoreConfig(server.url));
  await waitForReady(client, 5000);
  return client;
}

const uniquePrefix = (): string => `test:${randomBytes(6).toString('hex')}:`;

async function keysWith(prefix: string, client = admin): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Every key under `prefix` with its value, one per line. */
async function dump(prefix: string, client = admin): Promise<string> {
  const lines: string[] = [];
  for (const key of await keysWith(prefix, client)) {
    const type = await client.type(key);
    const value =
      type === 'string'
        ? await client.get(key)
        : type === 'hash'
          ? await client.hgetall(key)
          : type === 'set'
            ? await client.smembers(key)
            : type;
    lines.push(`${key} ${JSON.stringify(value)}`);
  }
  return lines.join('\n');
}

async function deleteKeys(prefix: string, client = admin): Promise<void> {
  // One key at a time: a multi-key DEL across slots is refused by a cluster node.
  for (const key of await keysWith(prefix, client)) await client.del(key);
}

tokenStoreContract('memory', async () => {
  const clock = new TestClock();
  const store = new MemoryTokenStore({ clock });
  return {
    store,
    elapse: async (ms) => clock.advance(ms),
    cleanup: async () => {},
    dump: async () => inspect(store, { depth: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity }),
  };
});

describe('memory store reuse grace with a moved clock', () => {
  it('replays within the window and revokes after it, without sleeping', async () => {
    const clock = TestClock.frozen();
    const store = new MemoryTokenStore({ clock });
    const now = clock.now();
    try {
      const familyId = newFamilyId();
      const at = Math.floor(now / 1000);
      const record: GrantRecord = {
        sub: 'joe',
        clientId: 'ro_client',
        scope: [],
        groups: [],
        attributes: {},
        validator: 'local',
        familyId,
        iat: at,
        exp: at + 3600,
      };
      const refresh = (): { token: string; record: GrantRecord & { familyExp: number } } => ({
        token: newToken(familyId),
        record: { ...record, exp: at + 86_400, familyExp: at + 86_400 },
      });
      const first = refresh();
      await store.createFamily({
        familyId,
        sub: 'joe',
        clientId: 'ro_client',
        exp: at + 86_400,
        access: { token: newToken(familyId), record },
        refresh: first,
      });
      const successor = { access: { token: newToken(familyId), record }, refresh: refresh() };
      expect(await store.rotate(first.token, successor, { graceSeconds: 10 })).toBe('rotated');
      clock.advance(9_999);
      expect(await store.settleRotated(first.token, 'ro_client', 10)).toEqual({ kind: 'replay', successor });
      clock.advance(1);
      expect(await store.settleRotated(first.token, 'ro_client', 10)).toMatchObject({ kind: 'reused' });
      expect(await store.getRefresh(successor.refresh.token)).toBeNull();
    } finally {
      await store.close();
    }
  });
});

/** A Redis store under a fresh prefix, with peers (other replicas) on the same prefix. */
async function redisFixture(server: RedisProcess, plain: () => Redis | Cluster) {
  const prefix = uniquePrefix();
  const store = new RedisTokenStore(await connect(server), prefix);
  const peers: RedisTokenStore[] = [];
  return {
    store,
    cleanup: async () => {
      await Promise.all(peers.map((p) => p.close()));
      await deleteKeys(prefix, plain());
    },
    dump: () => dump(prefix, plain()),
    peer: async () => {
      const peer = new RedisTokenStore(await connect(server), prefix);
      peers.push(peer);
      return peer;
    },
  };
}

tokenStoreContract('redis (real time)', () => redisFixture(redis, () => admin));

tokenStoreContract('redis cluster (real time)', () => redisFixture(cluster, () => clusterAdmin));

describe('RedisTokenStore key layout and TTLs', () => {
  let prefix: string;
  let store: RedisTokenStore;
  const now = (): number => Math.floor(Date.now() / 1000);

  beforeEach(async () => {
    prefix = uniquePrefix();
    store = new RedisTokenStore(await connect(), prefix);
  });

  afterEach(async () => {
    await store.close();
    await deleteKeys(prefix);
  });

  function record(familyId: string, exp: number): GrantRecord {
    return {
      sub: 'joe',
      clientId: 'ro_client',
      scope: ['edit'],
      groups: [],
      attributes: {},
      validator: 'local',
      familyId,
      iat: now(),
      exp,
    };
  }

  function family(accessTtl: number, familyTtl: number): NewFamily {
    const familyId = newFamilyId();
    const exp = now() + familyTtl;
    return {
      familyId,
      sub: 'joe',
      clientId: 'ro_client',
      exp,
      access: { token: newToken(familyId), record: record(familyId, now() + accessTtl) },
      refresh: { token: newToken(familyId), record: { ...record(familyId, exp), familyExp: exp } },
    };
  }

  /** Remaining life of `key` in seconds, rounded. */
  const ttlOf = async (key: string): Promise<number> => Math.round((await admin.pttl(key)) / 1000);

  it('keeps hashed keys under the family hash tag, each living as long as its token', async () => {
    const f = family(100, 1000);
    await store.createFamily(f);
    const tag = `${prefix}{${f.familyId}}`;
    const at = `${tag}:at:${hashToken(f.access.token)}`;
    const rt = `${tag}:rt:${hashToken(f.refresh!.token)}`;
    expect((await keysWith(prefix)).sort()).toEqual([`${prefix}sub:{joe}`, `${tag}:fam`, `${tag}:keys`, at, rt].sort());
    expect(await ttlOf(at)).toBeCloseTo(100, -1);
    for (const key of [rt, `${tag}:fam`, `${tag}:keys`, `${prefix}sub:{joe}`]) expect(await ttlOf(key)).toBeCloseTo(1000, -1);
    expect(await admin.hgetall(`${tag}:fam`)).toEqual({
      rt: hashToken(f.refresh!.token),
      sub: 'joe',
      cid: 'ro_client',
      exp: String(f.exp),
    });
    expect((await admin.smembers(`${tag}:keys`)).sort()).toEqual([at, rt].sort());
    expect(await admin.smembers(`${prefix}sub:{joe}`)).toEqual([f.familyId]);
  });

  it('keeps a rotated refresh token until the family ends, marked by the family hash', async () => {
    const f = family(100, 1000);
    await store.createFamily(f);
    const refresh = { token: newToken(f.familyId), record: { ...record(f.familyId, f.exp), familyExp: f.exp } };
    expect(
      await store.rotate(f.refresh!.token, { access: { token: newToken(f.familyId), record: record(f.familyId, now() + 100) }, refresh }),
    ).toBe('rotated');
    const tag = `${prefix}{${f.familyId}}`;
    expect(await ttlOf(`${tag}:rt:${hashToken(f.refresh!.token)}`)).toBeCloseTo(1000, -1);
    expect(await admin.hget(`${tag}:fam`, 'rt')).toBe(hashToken(refresh.token));
  });

  it('extends the family and the subject index to an access token that outlives the family', async () => {
    const f = family(5, 10);
    await store.createFamily(f);
    const access = { token: newToken(f.familyId), record: record(f.familyId, now() + 1000) };
    expect(await store.rotate(f.refresh!.token, { access })).toBe('rotated');
    const tag = `${prefix}{${f.familyId}}`;
    for (const key of [`${tag}:fam`, `${tag}:keys`, `${prefix}sub:{joe}`]) expect(await ttlOf(key)).toBeCloseTo(1000, -1);
    expect(await ttlOf(`${tag}:rt:${hashToken(f.refresh!.token)}`)).toBeCloseTo(10, -1);
    expect(await store.revokeSubject('joe')).toBe(1);
    expect(await store.getAccess(access.token)).toBeNull();
  });
});
