/**
 * `ropc-gateway lockout status` and `ropc-gateway unlock` (the real CLI, bin/ropc-gateway.js)
 * against a real Redis whose counters a gateway's Lockout wrote: an on-call engineer sees the
 * lock and ends it, under any spelling of the name. Needs `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createRedisClient, waitForReady } from '../../src/tokens/redis-connection.js';
import { RedisAttemptStore } from '../../src/security/attempt-store-redis.js';
import { Lockout, userKey } from '../../src/security/lockout.js';
import { redisStoreConfig, startRedis, type RedisProcess } from '../support/start-redis.js';

const prefix = `lockcli${Date.now()}:`;
const settings = {
  maxFailures: 3,
  lockSeconds: 600,
  maxLockSeconds: 900,
  ipMaxFailuresPerMinute: 1000,
  failureResetSeconds: 3600,
  reservationSeconds: 60,
};
let redis: RedisProcess;
let client: ReturnType<typeof createRedisClient>;
let lockout: Lockout;
let configFile: string;

beforeAll(async () => {
  redis = await startRedis();
  client = createRedisClient(redisStoreConfig(redis.url));
  await waitForReady(client, 5000);
  lockout = new Lockout(new RedisAttemptStore(client, prefix), settings);
  const dir = mkdtempSync(join(tmpdir(), 'ropc-lockcli-'));
  configFile = join(dir, 'gateway.yaml');
  writeFileSync(
    configFile,
    stringify({
      store: { type: 'redis', redis: { url: redis.url, keyPrefix: prefix } },
      upstream: { url: 'http://127.0.0.1:9' },
      lockout: settings,
    }),
  );
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['bin/ropc-gateway.js', ...args, '--config', configFile], { encoding: 'utf8', timeout: 15_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('lockout status and unlock', () => {
  it('shows a lock, ends it, and the user can log in again', async () => {
    for (let i = 0; i < settings.maxFailures; i++) {
      const attempt = await lockout.reserve('Joe', '192.0.2.1');
      if (!attempt.admitted) throw new Error(`attempt ${i} was not admitted: ${attempt.reason}`);
      await attempt.settle('failure');
    }
    expect((await lockout.status('joe')).lockedMs).toBeGreaterThan(0);

    const locked = cli('lockout', 'status', '--username', 'JOE');
    expect(locked.code, locked.stderr).toBe(1);
    expect(locked.stdout).toMatch(new RegExp(`^"JOE" \\(key ${userKey('joe')}\\) is locked for \\d+ more seconds`));

    const unlocked = cli('unlock', '--username', 'joe');
    expect(unlocked.code, unlocked.stderr).toBe(0);
    const [said, audit, ...rest] = unlocked.stdout.split('\n');
    expect(said).toBe(`unlocked "joe" (key ${userKey('joe')}); its failures and lock level are cleared`);
    // audit.destination stdout (the default): the unlock audit event follows (docs/operations.md, "Audit events").
    expect(JSON.parse(audit!)).toMatchObject({
      kind: 'audit',
      v: 1,
      event: 'unlock',
      outcome: 'success',
      actor: 'cli',
      username_key: userKey('joe'),
      was_locked: true,
    });
    expect(rest).toEqual(['']);
    expect(await lockout.status('joe')).toEqual({ lockedMs: 0, recorded: false });
    const again = await lockout.reserve('joe', '192.0.2.1');
    expect(again.admitted).toBe(true);
    if (again.admitted) await again.settle('released');

    const free = cli('lockout', 'status', '--username', 'joe');
    expect(free.code).toBe(0);
    expect(free.stdout).toBe(`"joe" (key ${userKey('joe')}) is not locked\n`);
  });

  it('refuses a memory store and a missing username', () => {
    expect(cli('unlock').code).toBe(2);
    const dir = mkdtempSync(join(tmpdir(), 'ropc-lockcli-'));
    const memory = join(dir, 'memory.yaml');
    writeFileSync(memory, stringify({ store: { type: 'memory' }, upstream: { url: 'http://127.0.0.1:9' } }));
    const run = spawnSync(process.execPath, ['bin/ropc-gateway.js', 'unlock', '--username', 'joe', '--config', memory], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('store.type is memory');
  });
});
