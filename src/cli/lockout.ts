/**
 * `ropc-gateway lockout status --config FILE --username NAME` and
 * `ropc-gateway unlock --config FILE --username NAME`: see and clear a user's brute-force lock
 * (docs/operations.md, "Lockouts") in the configured Redis store, without a running gateway.
 * Any spelling of the name works (NFKC, case-insensitive, as the lockout counts it). The
 * output names the counter key, the digest the gateway logs for lockouts.
 *
 * `unlock` writes an `unlock` audit event to audit.destination (stdout: after its own line;
 * docs/operations.md, "Audit events").
 *
 * Exit codes: 0 done (status: not locked), 1 status: locked, 2 usage or configuration error,
 * 3 Redis unreachable.
 */
import { ConfigError, loadConfig } from '../config/load.js';
import { Lockout, userKey } from '../security/lockout.js';
import { RedisAttemptStore } from '../security/attempt-store-redis.js';
import { createRedisClient, waitForReady } from '../tokens/redis-connection.js';
import type { CommandIo } from './revoke.js';
import { createAudit } from '../observability/audit.js';

const processIo: Pick<CommandIo, 'stdout' | 'stderr'> = { stdout: process.stdout, stderr: process.stderr };

/** `unlock` (args after the command) or `lockout status`; resolves with the exit code. */
export async function lockoutCommand(
  action: 'status' | 'unlock',
  args: readonly string[],
  io: Pick<CommandIo, 'stdout' | 'stderr'> = processIo,
): Promise<number> {
  const command = action === 'unlock' ? 'unlock' : 'lockout status';
  const file = option(args, '--config');
  const username = option(args, '--username');
  if (!file) throw new ConfigError([`--config: a configuration file is required (ropc-gateway ${command} --config FILE --username NAME)`]);
  if (!username) {
    io.stderr.write(`${command}: give --username NAME\n`);
    return 2;
  }
  const config = loadConfig({ mode: 'production', file });
  if (config.store.type !== 'redis') {
    io.stderr.write(
      `${command}: store.type is memory: the counters live inside the one gateway process; restarting it clears every lock\n`,
    );
    return 2;
  }
  // Opened before anything changes: an unwritable audit file stops the command.
  const audit = action === 'unlock' ? createAudit(config.audit, io.stdout) : undefined;
  const client = createRedisClient(config.store.redis);
  const lockout = new Lockout(new RedisAttemptStore(client, config.store.redis.keyPrefix), config.lockout);
  const who = `${JSON.stringify(username)} (key ${userKey(username)})`;
  try {
    await waitForReady(client, config.store.redis.connectTimeoutMs);
    if (action === 'unlock') {
      const before = await lockout.status(username);
      await lockout.unlock(username);
      io.stdout.write(
        before.lockedMs > 0
          ? `unlocked ${who}; its failures and lock level are cleared\n`
          : `${who} was not locked; its failures and lock level are cleared\n`,
      );
      audit?.emit({ event: 'unlock', outcome: 'success', actor: 'cli', username_key: userKey(username), was_locked: before.lockedMs > 0 });
      return 0;
    }
    const state = await lockout.status(username);
    if (state.lockedMs > 0) {
      io.stdout.write(`${who} is locked for ${Math.ceil(state.lockedMs / 1000)} more seconds; \`ropc-gateway unlock\` ends it\n`);
      return 1;
    }
    io.stdout.write(`${who} is not locked${state.recorded ? '; failures or an earlier lock are recorded' : ''}\n`);
    return 0;
  } catch (err) {
    io.stderr.write(`${command}: cannot reach the Redis store: ${err instanceof Error ? err.message : String(err)}\n`);
    return 3;
  } finally {
    audit?.close();
    client.disconnect();
  }
}

function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i === -1 ? undefined : (args[i + 1] ?? '');
}
