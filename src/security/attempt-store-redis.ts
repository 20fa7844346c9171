/**
 * {@link AttemptStore} on Redis, sharing the token store's client and key prefix, so every
 * replica counts into the same counters (DESIGN §7). Counting and locking run as Lua scripts,
 * atomically; locks are keys with a PX expiry, so no replica's clock is involved.
 *
 * Key layout (P = keyPrefix, U = user key, I = IP key, both hashes from lockout.ts):
 * - `P lockout:{u:U}:n`     hash: `f` consecutive failures, `n` locks so far (the doubling
 *                           level); expires `resetMs` after the last failure or lock end
 * - `P lockout:{u:U}:lock`  present while the user is locked (PX = the lock)
 * - `P lockout:{ip:I}`      failures in the IP's current window (PX = the rest of the window)
 * The two keys of a user share a Cluster hash tag; every counter is in a slot of its own.
 *
 * Client errors are rethrown as StoreUnavailableError (the login answers 503).
 */
import type { Cluster, Redis } from 'ioredis';
import { redactRedisError } from '../tokens/redis-connection.js';
import { StoreUnavailableError } from '../tokens/types.js';
import type { AttemptStore, LockPolicy, UserState } from './attempt-store.js';

const SCRIPTS = {
  /** KEYS: n, lock. {remaining lock ms (0 when none), 1 when anything is recorded}. */
  userState: `
local left = redis.call('PTTL', KEYS[2])
if left < 0 then left = 0 end
return {left, redis.call('EXISTS', KEYS[1])}`,
  /** KEYS: n, lock. ARGV: maxFailures, lockMs, maxLockMs, resetMs. The lock begun, ms (0: none). */
  userFailure: `
if redis.call('PTTL', KEYS[2]) > 0 then return 0 end
local f = redis.call('HINCRBY', KEYS[1], 'f', 1)
local ms = 0
if f >= tonumber(ARGV[1]) then
  local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
  ms = math.min(tonumber(ARGV[2]) * math.pow(2, n - 1), tonumber(ARGV[3]))
  redis.call('SET', KEYS[2], '1', 'PX', string.format('%d', ms))
  redis.call('HSET', KEYS[1], 'f', 0)
end
redis.call('PEXPIRE', KEYS[1], string.format('%d', ms + tonumber(ARGV[4])))
return ms`,
  /** KEYS: ip. ARGV: windowMs. The count in the window. */
  ipFailure: `
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptCommand = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

export class RedisAttemptStore implements AttemptStore {
  private readonly scripts: Record<ScriptName, ScriptCommand>;

  /**
   * @param client the token store's client (not closed by {@link close}).
   * @param keyPrefix `store.redis.keyPrefix`.
   */
  constructor(
    private readonly client: Redis | Cluster,
    private readonly keyPrefix: string,
  ) {
    const scripts: Partial<Record<ScriptName, ScriptCommand>> = {};
    for (const [name, lua] of Object.entries(SCRIPTS) as [ScriptName, string][]) {
      const command = `ropcAttempts_${name}`;
      client.defineCommand(command, { lua });
      const fn = (client as unknown as Record<string, ScriptCommand>)[command];
      if (!fn) throw new Error(`ioredis did not define ${command}`);
      scripts[name] = fn.bind(client);
    }
    this.scripts = scripts as Record<ScriptName, ScriptCommand>;
  }

  async userState(user: string): Promise<UserState> {
    const reply = await this.call('userState', () => this.scripts.userState(2, ...this.userKeys(user)));
    const [lockedMs, recorded] = Array.isArray(reply) ? (reply as unknown[]) : [];
    return { lockedMs: Number(lockedMs) || 0, recorded: recorded === 1 };
  }

  async userFailure(user: string, policy: LockPolicy): Promise<number> {
    const args = [policy.maxFailures, policy.lockMs, policy.maxLockMs, policy.resetMs];
    return Number(await this.call('userFailure', () => this.scripts.userFailure(2, ...this.userKeys(user), ...args))) || 0;
  }

  async userSuccess(user: string): Promise<void> {
    await this.call('userSuccess', () => this.client.del(...this.userKeys(user)));
  }

  async ipFailures(ip: string): Promise<number> {
    return Number(await this.call('ipFailures', () => this.client.get(this.ipKey(ip)))) || 0;
  }

  async ipFailure(ip: string, windowMs: number): Promise<number> {
    return Number(await this.call('ipFailure', () => this.scripts.ipFailure(1, this.ipKey(ip), windowMs))) || 0;
  }

  /** The client belongs to the token store, which closes it. */
  async close(): Promise<void> {}

  private userKeys(user: string): [string, string] {
    const tag = `${this.keyPrefix}lockout:{u:${user}}`;
    return [`${tag}:n`, `${tag}:lock`];
  }

  private ipKey(ip: string): string {
    return `${this.keyPrefix}lockout:{ip:${ip}}`;
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const cause = redactRedisError(err);
      throw new StoreUnavailableError(`attempts ${operation}: ${cause.message}`, { cause });
    }
  }
}
