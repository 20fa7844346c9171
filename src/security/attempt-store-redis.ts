/**
 * {@link AttemptStore} on Redis, sharing the token store's client and key prefix, so every
 * replica counts into the same counters. Each reservation and each settlement is one Lua
 * script, so checking the limit and taking a slot is one atomic step across all replicas
 * (attempt-store.ts). Locks are keys with a PX expiry and reservations lapse by the server's
 * clock (`TIME`), so no replica's clock is involved.
 *
 * Key layout (P = keyPrefix, U = user key, I = IP key, both hashes from lockout.ts):
 * - `P lockout:{u:U}:n`     hash: `f` consecutive failures, `n` locks so far (the doubling
 *                           level); expires `resetMs` after the last failure or lock end
 * - `P lockout:{u:U}:lock`  present while the user is locked (PX = the lock)
 * - `P lockout:{u:U}:r`     sorted set: the user's attempts in flight, scored by when they lapse
 * - `P lockout:{ip:I}`      failures in the IP's current window (PX = the rest of the window)
 * - `P lockout:{ip:I}:r`    sorted set: the IP's attempts in flight, scored by when they lapse
 * The keys of a user share a Cluster hash tag, and so do the keys of an IP; a user and an IP
 * are in different slots, which is why under Cluster they are reserved by two scripts
 * (lockout.ts). On one node (or Sentinel) `reserveIpAndUser` runs both in one script, and
 * `settleIpAndUser` settles both in one: one round trip each per login instead of two.
 *
 * Client errors are rethrown as StoreUnavailableError (the login answers 503).
 */
import type { Cluster, Redis } from 'ioredis';
import { redactRedisError } from '../tokens/redis-connection.js';
import { StoreUnavailableError } from '../tokens/types.js';
import type { AttemptResult, AttemptStore, IpPolicy, IpReservation, LockPolicy, UserReservation, UserState } from './attempt-store.js';

/** Drops the lapsed reservations of sorted set `key`; leaves the server time (ms) in `now`. */
const IN_FLIGHT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function inFlight(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  return redis.call('ZCARD', key)
end
local function reserve(key, id, ttl)
  redis.call('ZADD', key, now + ttl, id)
  redis.call('PEXPIRE', key, ttl)
end`;

/** Settles a user's reservation `id`: a success resets the user, a failure counts and may lock. The lock begun, ms (0: none). */
const SETTLE_USER = `
local function settleUser(kn, klock, kr, id, result, maxFailures, lockMs, maxLockMs, resetMs)
  redis.call('ZREM', kr, id)
  if result == 'success' then
    redis.call('DEL', kn, klock)
    return 0
  end
  if result ~= 'failure' then return 0 end
  if redis.call('PTTL', klock) > 0 then return 0 end
  local f = redis.call('HINCRBY', kn, 'f', 1)
  local ms = 0
  if f >= tonumber(maxFailures) then
    local n = redis.call('HINCRBY', kn, 'n', 1)
    ms = math.min(tonumber(lockMs) * math.pow(2, n - 1), tonumber(maxLockMs))
    redis.call('SET', klock, '1', 'PX', string.format('%d', ms))
    redis.call('HSET', kn, 'f', 0)
  end
  redis.call('PEXPIRE', kn, string.format('%d', ms + tonumber(resetMs)))
  return ms
end`;

/** Settles an IP's reservation `id`: a failure counts in the window. The count in the window (0 unless a failure). */
const SETTLE_IP = `
local function settleIp(kcount, kr, id, result, windowMs)
  redis.call('ZREM', kr, id)
  if result ~= 'failure' then return 0 end
  local count = redis.call('INCR', kcount)
  if count == 1 or redis.call('PTTL', kcount) < 0 then redis.call('PEXPIRE', kcount, windowMs) end
  return count
end`;

const SCRIPTS = {
  /** KEYS: n, lock. {remaining lock ms (0 when none), 1 when anything is recorded}. */
  userState: `
local left = redis.call('PTTL', KEYS[2])
if left < 0 then left = 0 end
return {left, redis.call('EXISTS', KEYS[1])}`,
  /** KEYS: n, lock, reservations. ARGV: id, maxFailures, ttlMs. 'reserved' | 'locked' | 'busy'. */
  reserveUser: `${IN_FLIGHT}
if redis.call('PTTL', KEYS[2]) > 0 then return 'locked' end
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
if f + inFlight(KEYS[3]) >= tonumber(ARGV[2]) then return 'busy' end
reserve(KEYS[3], ARGV[1], tonumber(ARGV[3]))
return 'reserved'`,
  /** KEYS: n, lock, reservations. ARGV: id, result, maxFailures, lockMs, maxLockMs, resetMs. The lock begun, ms (0: none). */
  settleUser: `${SETTLE_USER}
return settleUser(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])`,
  /** KEYS: count, reservations. ARGV: id, budget, ttlMs. 'reserved' | 'blocked' | 'busy'. */
  reserveIp: `${IN_FLIGHT}
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[2]) then return 'blocked' end
if count + inFlight(KEYS[2]) >= tonumber(ARGV[2]) then return 'busy' end
reserve(KEYS[2], ARGV[1], tonumber(ARGV[3]))
return 'reserved'`,
  /**
   * reserveIp then, when it reserved, reserveUser (one node only: the keys are in two slots).
   * KEYS: ip count, ip reservations, user n, user lock, user reservations. ARGV: ip id,
   * budget, ip ttlMs, user id, maxFailures, user ttlMs. {ip result, user result or ''}.
   */
  reserveIpAndUser: `${IN_FLIGHT}
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[2]) then return {'blocked', ''} end
if count + inFlight(KEYS[2]) >= tonumber(ARGV[2]) then return {'busy', ''} end
reserve(KEYS[2], ARGV[1], tonumber(ARGV[3]))
if redis.call('PTTL', KEYS[4]) > 0 then return {'reserved', 'locked'} end
local f = tonumber(redis.call('HGET', KEYS[3], 'f') or '0')
if f + inFlight(KEYS[5]) >= tonumber(ARGV[5]) then return {'reserved', 'busy'} end
reserve(KEYS[5], ARGV[4], tonumber(ARGV[6]))
return {'reserved', 'reserved'}`,
  /** KEYS: count, reservations. ARGV: id, result, windowMs. The count in the window (0 unless a failure). */
  settleIp: `${SETTLE_IP}
return settleIp(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])`,
  /**
   * settleIp and settleUser of one attempt in one script (one node only, as reserveIpAndUser).
   * KEYS: ip count, ip reservations, user n, user lock, user reservations. ARGV: ip id,
   * result, windowMs, user id, maxFailures, lockMs, maxLockMs, resetMs. {ip count, lock ms}.
   */
  settleIpAndUser: `${SETTLE_IP}${SETTLE_USER}
local ip = settleIp(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
return {ip, settleUser(KEYS[3], KEYS[4], KEYS[5], ARGV[4], ARGV[2], ARGV[5], ARGV[6], ARGV[7], ARGV[8])}`,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptCommand = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

export class RedisAttemptStore implements AttemptStore {
  private readonly scripts: Record<ScriptName, ScriptCommand>;
  readonly reserveIpAndUser: AttemptStore['reserveIpAndUser'];
  readonly settleIpAndUser: AttemptStore['settleIpAndUser'];

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
    this.reserveIpAndUser = client.isCluster
      ? undefined
      : async (ip, ipId, ipPolicy, user, id, policy) => {
          const [ipResult, userResult] = (await this.call('reserveIpAndUser', () =>
            this.scripts.reserveIpAndUser(
              5,
              ...this.ipKeys(ip),
              ...this.userKeys(user),
              ipId,
              ipPolicy.budget,
              ipPolicy.ttlMs,
              id,
              policy.maxFailures,
              policy.ttlMs,
            ),
          )) as [IpReservation, UserReservation | ''];
          return { ip: ipResult, user: userResult === '' ? undefined : userResult };
        };
    this.settleIpAndUser = client.isCluster
      ? undefined
      : async (ip, ipId, result, ipPolicy, user, id, policy) => {
          const [ipFailures, userLockedMs] = (await this.call('settleIpAndUser', () =>
            this.scripts.settleIpAndUser(
              5,
              ...this.ipKeys(ip),
              ...this.userKeys(user),
              ipId,
              result,
              ipPolicy.windowMs,
              id,
              ...this.userSettleArgs(policy),
            ),
          )) as [number, number];
          return { ipFailures: Number(ipFailures) || 0, userLockedMs: Number(userLockedMs) || 0 };
        };
  }

  async userState(user: string): Promise<UserState> {
    const [n, lock] = this.userKeys(user);
    const reply = await this.call('userState', () => this.scripts.userState(2, n, lock));
    const [lockedMs, recorded] = Array.isArray(reply) ? (reply as unknown[]) : [];
    return { lockedMs: Number(lockedMs) || 0, recorded: recorded === 1 };
  }

  async reserveUser(user: string, id: string, policy: LockPolicy): Promise<UserReservation> {
    const reply = await this.call('reserveUser', () =>
      this.scripts.reserveUser(3, ...this.userKeys(user), id, policy.maxFailures, policy.ttlMs),
    );
    // Anything but the two refusals is unexpected: refuse rather than let the attempt through.
    return reply === 'reserved' ? 'reserved' : reply === 'locked' ? 'locked' : 'busy';
  }

  async settleUser(user: string, id: string, result: AttemptResult, policy: LockPolicy): Promise<number> {
    const args = [id, result, ...this.userSettleArgs(policy)];
    return Number(await this.call('settleUser', () => this.scripts.settleUser(3, ...this.userKeys(user), ...args))) || 0;
  }

  private userSettleArgs(policy: LockPolicy): [number, number, number, number] {
    return [policy.maxFailures, policy.lockMs, policy.maxLockMs, policy.resetMs];
  }

  async ipFailures(ip: string): Promise<number> {
    return Number(await this.call('ipFailures', () => this.client.get(this.ipKeys(ip)[0]))) || 0;
  }

  async reserveIp(ip: string, id: string, policy: IpPolicy): Promise<IpReservation> {
    const reply = await this.call('reserveIp', () => this.scripts.reserveIp(2, ...this.ipKeys(ip), id, policy.budget, policy.ttlMs));
    return reply === 'reserved' ? 'reserved' : reply === 'busy' ? 'busy' : 'blocked';
  }

  async settleIp(ip: string, id: string, result: AttemptResult, policy: IpPolicy): Promise<number> {
    return Number(await this.call('settleIp', () => this.scripts.settleIp(2, ...this.ipKeys(ip), id, result, policy.windowMs))) || 0;
  }

  /** The client belongs to the token store, which closes it. */
  async close(): Promise<void> {}

  private userKeys(user: string): [string, string, string] {
    const tag = `${this.keyPrefix}lockout:{u:${user}}`;
    return [`${tag}:n`, `${tag}:lock`, `${tag}:r`];
  }

  private ipKeys(ip: string): [string, string] {
    const key = `${this.keyPrefix}lockout:{ip:${ip}}`;
    return [key, `${key}:r`];
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
