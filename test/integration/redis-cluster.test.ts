/**
 * Redis Cluster (docs/architecture.md, docs/deployment.md): the token store contract on a real three-master cluster
 * (`redis-cli --cluster create`), through the ioredis Cluster client that `store.redis.cluster`
 * builds, and a gateway serving on it.
 *
 * Cluster refuses a command or script whose keys lie in different slots (CROSSSLOT). The store
 * keeps every key of a family under its `{familyId}` hash tag and touches the subject index
 * (`sub:{subject}`, in another slot, usually on another node) only in commands of its own; the
 * tests below make sure families and indexes really are spread over the three nodes.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, waitForReady } from '../../src/tokens/redis-connection.js';
import { RedisTokenStore } from '../../src/tokens/redis-store.js';
import { newFamilyId, newToken } from '../../src/tokens/token-value.js';
import type { NewFamily } from '../../src/tokens/types.js';
import { tokenStoreContract } from '../contract/token-store.contract.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { basicAuth, postForm, startGateway, USERS } from '../support/start-gateway.js';
import { startRedisCluster, type RedisCluster } from '../support/start-redis-cluster.js';
import { redisStoreConfig } from '../support/start-redis.js';

let cluster: RedisCluster;
/** A client of the tests' own, for looking at and deleting keys. */
let admin: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
  admin = await connect();
});

afterAll(async () => {
  admin?.disconnect();
  await cluster?.stop();
});

/** A Cluster client exactly as the gateway builds it from `store.redis.cluster`. */
async function connect(): Promise<Cluster> {
  const client = createRedisClient(redisStoreConfig('', { cluster: [...cluster.seeds] }));
  await waitForReady(client, 10_000);
  return client as Cluster;
}

const uniquePrefix = (): string => `test:${randomBytes(6).toString('hex')}:`;

/** Keys under `prefix` on each master, by port. */
async function keysByNode(prefix: string): Promise<Map<number, string[]>> {
  const byNode = new Map<number, string[]>();
  for (const node of admin.nodes('master')) {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    byNode.set(Number(node.options.port), keys);
  }
  return byNode;
}

async function deleteKeys(prefix: string): Promise<void> {
  // One key at a time: a multi-key DEL across slots is refused.
  for (const keys of (await keysByNode(prefix)).values()) for (const key of keys) await admin.del(key);
}

async function dump(prefix: string): Promise<string> {
  const lines: string[] = [];
  for (const keys of (await keysByNode(prefix)).values()) {
    for (const key of keys) {
      const type = await admin.type(key);
      const value =
        type === 'string'
          ? await admin.get(key)
          : type === 'hash'
            ? await admin.hgetall(key)
            : type === 'set'
              ? await admin.smembers(key)
              : type;
      lines.push(`${key} ${JSON.stringify(value)}`);
    }
  }
  return lines.join('\n');
}

describe('the test cluster', () => {
  it('has three masters sharing the 16384 slots', async () => {
    const masters = admin.nodes('master');
    expect(masters).toHaveLength(3);
    const slots = (await admin.cluster('SLOTS')) as [number, number, ...unknown[]][];
    expect(slots.reduce((sum, [from, to]) => sum + to - from + 1, 0)).toBe(16384);
    expect(new Set(slots.map((s) => JSON.stringify(s[2]))).size).toBe(3);
  });
});

tokenStoreContract('redis cluster (3 masters)', async () => {
  const prefix = uniquePrefix();
  const store = new RedisTokenStore(await connect(), prefix);
  // Other replicas on the same cluster: revocations published on one node reach them all.
  const peers: RedisTokenStore[] = [];
  return {
    store,
    cleanup: async () => {
      await Promise.all(peers.map((peer) => peer.close()));
      await deleteKeys(prefix);
    },
    dump: () => dump(prefix),
    peer: async () => {
      const peer = new RedisTokenStore(await connect(), prefix);
      peers.push(peer);
      return peer;
    },
  };
});

describe('RedisTokenStore on a 3-master cluster', () => {
  const now = (): number => Math.floor(Date.now() / 1000);

  function family(sub: string): NewFamily {
    const familyId = newFamilyId();
    const exp = now() + 600;
    const record = {
      sub,
      clientId: 'ro_client',
      scope: ['read'],
      groups: [],
      attributes: {},
      validator: 'local',
      familyId,
      iat: now(),
      exp,
    };
    return {
      familyId,
      sub,
      clientId: 'ro_client',
      exp,
      access: { token: newToken(familyId), record },
      refresh: { token: newToken(familyId), record: { ...record, familyExp: exp } },
    };
  }

  it('spreads families over every node, and revokes a subject whose families live on other nodes than its index', async () => {
    const prefix = uniquePrefix();
    const store = new RedisTokenStore(await connect(), prefix);
    try {
      const families: NewFamily[] = [];
      // Random family ids land on random slots: 24 families miss a node with odds of ~1e-4.
      for (let i = 0; i < 24; i++) {
        const f = family('joe');
        await store.createFamily(f);
        families.push(f);
      }
      const byNode = await keysByNode(prefix);
      const famNodes = [...byNode].filter(([, keys]) => keys.some((k) => k.endsWith(':fam'))).map(([port]) => port);
      expect(famNodes).toHaveLength(3);
      // Every key of one family sits on one node (the hash tag at work).
      for (const f of families) {
        const holders = [...byNode].filter(([, keys]) => keys.some((k) => k.includes(`{${f.familyId}}`)));
        expect(holders).toHaveLength(1);
        expect(holders[0]![1].filter((k) => k.includes(`{${f.familyId}}`))).toHaveLength(4);
      }
      const indexNode = [...byNode].find(([, keys]) => keys.includes(`${prefix}sub:{joe}`))?.[0];
      expect(famNodes.filter((port) => port !== indexNode).length).toBeGreaterThan(0);

      expect(await store.revokeSubject('joe')).toBe(24);
      for (const f of families) expect(await store.getAccess(f.access.token)).toBeNull();
      expect([...(await keysByNode(prefix)).values()].flat()).toEqual([]);
    } finally {
      await store.close();
      await deleteKeys(prefix);
    }
  });
});

describe('a gateway on the cluster', () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('issues, checks, refreshes and revokes on reuse through store.redis.cluster', async () => {
    const prefix = uniquePrefix();
    const gw = await startGateway({
      upstream: upstream.url,
      config: { store: { type: 'redis', redis: { cluster: [...cluster.seeds], keyPrefix: prefix } } },
    });
    try {
      expect((await fetch(`${gw.adminUrl}/readyz`)).status).toBe(200);
      const tokens = [];
      for (const user of ['joe', 'alice'] as const) {
        const res = await postForm(
          gw.tokenUrl,
          new URLSearchParams({ grant_type: 'password', username: user, password: USERS[user].password }).toString(),
          {
            authorization: basicAuth(),
          },
        );
        expect(res.status, res.text).toBe(200);
        tokens.push(res.json);
      }
      const [joe] = tokens as [Record<string, string>, Record<string, string>];
      const proxied = await fetch(`${gw.url}/api/orders`, { headers: { authorization: `Bearer ${joe['access_token']}` } });
      expect(proxied.status).toBe(200);

      const refresh = (token: string | undefined) =>
        postForm(gw.tokenUrl, `grant_type=refresh_token&refresh_token=${token}`, { authorization: basicAuth() });
      const rotated = await refresh(joe['refresh_token']);
      expect(rotated.status, rotated.text).toBe(200);
      // Presenting the rotated-away token again revokes the whole family (RFC 9700 §4.14.2).
      expect((await refresh(joe['refresh_token'])).json.error).toBe('invalid_grant');
      const after = await fetch(`${gw.url}/api/orders`, { headers: { authorization: `Bearer ${rotated.json.access_token as string}` } });
      expect(after.status).toBe(401);
    } finally {
      await gw.stop();
      await deleteKeys(prefix);
    }
  });
});
