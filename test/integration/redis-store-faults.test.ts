/**
 * The Redis token store when Redis fails (docs/security.md "Tested failure modes"): stopped, killed or hung,
 * every call rejects fast with StoreUnavailableError (never a library error, never a hang), and
 * the same store instance works again once Redis is back, without being recreated.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, waitForReady } from '../../src/tokens/redis-connection.js';
import { RedisTokenStore } from '../../src/tokens/redis-store.js';
import { newFamilyId, newToken } from '../../src/tokens/token-value.js';
import { StoreUnavailableError, type GrantRecord, type NewFamily } from '../../src/tokens/types.js';
import { redisStoreConfig, startRedis, type RedisProcess } from '../support/start-redis.js';
import { waitFor } from '../support/wait-for.js';

/** A call must fail within this time (commandTimeoutMs is 500). */
const FAIL_WITHIN_MS = 2000;
const RECOVER_WITHIN_MS = 10_000;

describe('RedisTokenStore when Redis fails', () => {
  let redis: RedisProcess;
  let client: Redis | Cluster;
  let store: RedisTokenStore;
  const clientErrors: Error[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const config = redisStoreConfig(redis.url, { commandTimeoutMs: 500, connectTimeoutMs: 500 });
    client = createRedisClient(config, (err) => clientErrors.push(err));
    await waitForReady(client, 5000);
    store = new RedisTokenStore(client, `faults:${randomBytes(6).toString('hex')}:`);
  });

  afterAll(async () => {
    await store?.close();
    await redis?.stop();
  });

  function family(): NewFamily {
    const familyId = newFamilyId();
    const iat = Math.floor(Date.now() / 1000);
    const record: GrantRecord = {
      sub: 'joe',
      clientId: 'ro_client',
      scope: [],
      groups: [],
      attributes: {},
      validator: 'local',
      familyId,
      iat,
      exp: iat + 60,
    };
    return {
      familyId,
      sub: 'joe',
      clientId: 'ro_client',
      exp: iat + 600,
      access: { token: newToken(familyId), record },
      refresh: { token: newToken(familyId), record: { ...record, exp: iat + 600, familyExp: iat + 600 } },
    };
  }

  /** Every store operation rejects with StoreUnavailableError, each within FAIL_WITHIN_MS. */
  async function expectUnavailable(): Promise<void> {
    const f = family();
    const refresh = f.refresh!.token;
    const next = { access: { token: newToken(f.familyId), record: f.access.record } };
    const calls: [string, () => Promise<unknown>][] = [
      ['ping', () => store.ping()],
      ['createFamily', () => store.createFamily(f)],
      ['getAccess', () => store.getAccess(f.access.token)],
      ['getRefresh', () => store.getRefresh(refresh)],
      ['rotate', () => store.rotate(refresh, next)],
      ['revokeIfRotated', () => store.revokeIfRotated(refresh)],
      ['revokeFamily', () => store.revokeFamily(f.familyId)],
      ['revokeSubject', () => store.revokeSubject('joe')],
      ['describeToken', () => store.describeToken(f.access.token)],
      ['revokeAccess', () => store.revokeAccess(f.access.token)],
    ];
    await Promise.all(
      calls.map(async ([name, call]) => {
        const started = Date.now();
        const error = await call().then(
          () => new Error(`${name} resolved while Redis is down`),
          (err: unknown) => err,
        );
        expect(error, name).toBeInstanceOf(StoreUnavailableError);
        expect((error as Error).message, name).toMatch(/^token store unavailable: /);
        // The cause is a plain Error: no ioredis type and no command arguments cross the interface.
        expect((error as Error).cause?.constructor, name).toBe(Error);
        expect(Object.keys((error as Error).cause ?? {}), name).not.toContain('command');
        expect(Date.now() - started, name).toBeLessThan(FAIL_WITHIN_MS);
      }),
    );
  }

  /** The same store answers again within RECOVER_WITHIN_MS, reads and writes included. */
  async function expectRecovered(): Promise<void> {
    const answers = async (): Promise<boolean> => {
      try {
        await store.ping();
        return true;
      } catch (err) {
        expect(err).toBeInstanceOf(StoreUnavailableError);
        return false;
      }
    };
    await waitFor(answers, RECOVER_WITHIN_MS, 'the store to recover');
    const f = family();
    await store.createFamily(f);
    expect(await store.getAccess(f.access.token)).toEqual(f.access.record);
    expect(await store.rotate(f.refresh!.token, { access: { token: newToken(f.familyId), record: f.access.record } })).toBe('rotated');
  }

  it('works while Redis is up', async () => {
    await expectRecovered();
  });

  it('fails fast when Redis is stopped, and recovers when it is started again', async () => {
    await redis.stop();
    await expectUnavailable();
    await redis.restart();
    // The new server has an empty script cache: the scripts must be loaded again.
    await expectRecovered();
  });

  it('fails fast when Redis is killed, and recovers after a restart', async () => {
    await redis.kill();
    await expectUnavailable();
    await redis.restart();
    await expectRecovered();
  });

  it('fails fast when Redis hangs (SIGSTOP), and recovers when it continues', async () => {
    redis.pause();
    try {
      await expectUnavailable();
    } finally {
      redis.resume();
    }
    await expectRecovered();
  });

  it('answers malformed tokens without asking Redis', async () => {
    await redis.stop();
    try {
      expect(await store.getAccess('not-a-token')).toBeNull();
      expect(await store.getRefresh('')).toBeNull();
      expect(await store.rotate('x'.repeat(66), { access: family().access })).toBe('invalid');
      expect(await store.revokeIfRotated('{}')).toBeNull();
      await expect(store.revokeFamily('no such family')).resolves.toBe(false);
      expect(await store.describeToken('not-a-token')).toBeNull();
      expect(await store.revokeAccess('')).toBe(false);
    } finally {
      await redis.restart();
    }
    await expectRecovered();
  });

  it('reports connection errors through onError', async () => {
    clientErrors.length = 0;
    await redis.stop();
    try {
      // Reconnect attempts every 100–1000 ms meet a closed port.
      await waitFor(() => clientErrors.length > 0, 5000, 'a connection error');
    } finally {
      await redis.restart();
    }
    await expectRecovered();
  });

  it('gives onError no password and no command arguments', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    await client.config('SET', 'requirepass', password);
    const errors: Error[] = [];
    const wrong = createRedisClient(redisStoreConfig(redis.url, { password: `${password}-wrong` }), (err) => errors.push(err));
    try {
      await waitFor(() => errors.length > 0, 5000, 'an authentication error');
      for (const err of errors) {
        expect(Object.keys(err)).not.toContain('command');
        expect(`${err.message} ${JSON.stringify(err)}`).not.toContain(password);
      }
    } finally {
      wrong.disconnect();
      await client.config('SET', 'requirepass', '');
    }
  });
});
