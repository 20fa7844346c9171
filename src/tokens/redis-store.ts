/**
 * The Redis token store (DESIGN §5). Every family operation (write, revocation, rotation-state
 * read) runs as one Lua script, so rotation and reuse detection are atomic, also under Cluster.
 *
 * Key layout (P = keyPrefix, F = family id, H = SHA-256 of a token, S = subject):
 * - `P{F}:at:H`  access record (JSON), expires at the record's `exp`
 * - `P{F}:rt:H`  refresh record (JSON), expires at `familyExp`; rotated ones stay until then
 *                so a reuse can be detected
 * - `P{F}:fam`   hash: `rt` (H of the current refresh token, '' when none), `sub`, `cid`, `exp`
 * - `P{F}:keys`  set of the family's `at`/`rt` key names, for revocation
 * - `Psub:{S}`   set of the subject's family ids, for revokeSubject
 * The `{F}` hash tag puts all keys of a family in one Cluster slot. `fam` and `keys` live as
 * long as the longest-lived member; `sub:{S}` as long as the subject's longest-lived family.
 *
 * Every client error is rethrown as {@link StoreUnavailableError}, its cause a plain copy of the
 * ioredis error without the command arguments (records hold personal attributes).
 */
import type { Cluster, Redis } from 'ioredis';
import { redactRedisError } from './redis-connection.js';
import { parseToken } from './token-value.js';
import {
  StoreUnavailableError,
  type GrantRecord,
  type NewFamily,
  type RefreshRecord,
  type RotateResult,
  type TokenStore,
  type TokenToIssue,
} from './types.js';

/** Helpers of the family scripts: KEYS[1] is the `fam` hash, KEYS[2] the `keys` set. */
const FAMILY_LUA = `
local function extend(key, ttl)
  local left = redis.call('PTTL', key)
  if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', key, ttl) end
end
local function put(key, value, ttl)
  if ttl <= 0 then return end
  redis.call('SET', key, value, 'PX', ttl)
  redis.call('SADD', KEYS[2], key)
  extend(KEYS[1], ttl)
  extend(KEYS[2], ttl)
end
local function revoke()
  local existed = redis.call('EXISTS', KEYS[1])
  local members = redis.call('SMEMBERS', KEYS[2])
  for i = 1, #members do redis.call('DEL', members[i]) end
  redis.call('DEL', KEYS[1], KEYS[2])
  return existed
end
local function state(refreshKey, hash)
  local current = redis.call('HGET', KEYS[1], 'rt')
  if not current or redis.call('EXISTS', refreshKey) == 0 then return 'unknown' end
  if current == hash then return 'current' end
  return 'rotated'
end
`;

const SCRIPTS = {
  /** KEYS: fam, keys, at[, rt]. ARGV: sub, clientId, exp, familyTtl, atJson, atTtl[, rtHash, rtJson, rtTtl]. */
  create: `${FAMILY_LUA}
redis.call('HSET', KEYS[1], 'rt', ARGV[7] or '', 'sub', ARGV[1], 'cid', ARGV[2], 'exp', ARGV[3])
extend(KEYS[1], tonumber(ARGV[4]))
put(KEYS[3], ARGV[5], tonumber(ARGV[6]))
if KEYS[4] then put(KEYS[4], ARGV[8], tonumber(ARGV[9])) end
return 1`,
  /** KEYS: fam, rt. ARGV: rtHash. The record, when the token is the family's current one. */
  getRefresh: `
if redis.call('HGET', KEYS[1], 'rt') ~= ARGV[1] then return false end
return redis.call('GET', KEYS[2])`,
  /** KEYS: fam, keys, presented rt, new at[, new rt]. ARGV: rtHash, nowMs, atJson, atTtl[, newRtHash, rtJson, rtTtl]. */
  rotate: `${FAMILY_LUA}
local s = state(KEYS[3], ARGV[1])
if s == 'unknown' then return 'invalid' end
if s == 'rotated' then revoke() return 'reused' end
if cjson.decode(redis.call('GET', KEYS[3])).exp * 1000 <= tonumber(ARGV[2]) then return 'invalid' end
put(KEYS[4], ARGV[3], tonumber(ARGV[4]))
if KEYS[5] then
  put(KEYS[5], ARGV[6], tonumber(ARGV[7]))
  redis.call('HSET', KEYS[1], 'rt', ARGV[5])
end
return 'rotated'`,
  /** KEYS: fam, keys, rt. ARGV: rtHash. 1 when the token was rotated and its family is now revoked. */
  revokeIfRotated: `${FAMILY_LUA}
if state(KEYS[3], ARGV[1]) ~= 'rotated' then return 0 end
revoke()
return 1`,
  /** KEYS: fam, keys. 1 when the family existed. */
  revoke: `${FAMILY_LUA}
return revoke()`,
  /** KEYS: sub index. ARGV: familyId ('' to only extend), ttl. */
  subject: `
if ARGV[1] ~= '' then redis.call('SADD', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
local ttl = tonumber(ARGV[2])
if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`,
} as const;

type ScriptName = keyof typeof SCRIPTS;

interface FamilyKeys {
  readonly fam: string;
  readonly members: string;
  at(hash: string): string;
  rt(hash: string): string;
}
type ScriptCommand = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

/** A family id as `newFamilyId()` makes it; anything else cannot name a family. */
const FAMILY_ID = /^[A-Za-z0-9_-]{22}$/;
const RESULTS: readonly string[] = ['rotated', 'reused', 'invalid'] satisfies RotateResult[];

/**
 * {@link TokenStore} on Redis (single node, Sentinel or Cluster). Concurrent `rotate()` calls
 * with one refresh token run one after the other in Redis: the first returns `rotated`; the
 * next finds the token rotated, revokes the family (the winner's new tokens too) and returns
 * `reused`; the later ones find no family and return `invalid`.
 *
 * `close()` quits the client: give each store a client of its own.
 */
export class RedisTokenStore implements TokenStore {
  private readonly scripts: Record<ScriptName, ScriptCommand>;

  /**
   * @param client from `createRedisClient()`; commands fail fast while it is not connected.
   * @param keyPrefix prefix of every key (`store.redis.keyPrefix`, default `ropc:`).
   */
  constructor(
    private readonly client: Redis | Cluster,
    private readonly keyPrefix: string,
  ) {
    const scripts: Partial<Record<ScriptName, ScriptCommand>> = {};
    for (const [name, lua] of Object.entries(SCRIPTS) as [ScriptName, string][]) {
      // defineCommand: EVALSHA, falling back to EVAL after a restart emptied the script cache.
      const command = `ropcTokens_${name}`;
      client.defineCommand(command, { lua });
      const fn = (client as unknown as Record<string, ScriptCommand>)[command];
      if (!fn) throw new Error(`ioredis did not define ${command}`);
      scripts[name] = fn.bind(client);
    }
    this.scripts = scripts as Record<ScriptName, ScriptCommand>;
  }

  async createFamily(family: NewFamily): Promise<void> {
    const { familyId, access, refresh } = family;
    const now = Date.now();
    const k = this.keysOf(familyId);
    const keys = [k.fam, k.members, k.at(memberHash(access.token, familyId))];
    const args: (string | number)[] = [family.sub, family.clientId, family.exp, ttl(family.exp, now), JSON.stringify(access.record), ttl(access.record.exp, now)];
    if (refresh) {
      const hash = memberHash(refresh.token, familyId);
      keys.push(k.rt(hash));
      args.push(hash, JSON.stringify(refresh.record), ttl(refresh.record.familyExp, now));
    }
    const end = Math.max(family.exp, access.record.exp, refresh?.record.familyExp ?? 0);
    await this.call('createFamily', async () => {
      // Index first: a family missing from its subject's index could not be revoked by subject.
      await this.run('subject', [this.subjectKey(family.sub)], [familyId, ttl(end, now)]);
      await this.run('create', keys, args);
    });
  }

  async getAccess(token: string): Promise<GrantRecord | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const raw = await this.call('getAccess', () => this.client.get(this.keysOf(parsed.familyId).at(parsed.hash)));
    return liveRecord<GrantRecord>(raw);
  }

  async getRefresh(token: string): Promise<RefreshRecord | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const k = this.keysOf(parsed.familyId);
    const keys = [k.fam, k.rt(parsed.hash)];
    const raw = await this.call('getRefresh', () => this.run('getRefresh', keys, [parsed.hash]));
    return liveRecord<RefreshRecord>(raw);
  }

  async rotate(presented: string, next: { access: TokenToIssue; refresh?: TokenToIssue<RefreshRecord> }): Promise<RotateResult> {
    const parsed = parseToken(presented);
    if (!parsed) return 'invalid';
    const { familyId, hash } = parsed;
    const now = Date.now();
    const k = this.keysOf(familyId);
    const keys = [k.fam, k.members, k.rt(hash), k.at(memberHash(next.access.token, familyId))];
    const args: (string | number)[] = [hash, now, JSON.stringify(next.access.record), ttl(next.access.record.exp, now)];
    if (next.refresh) {
      const newHash = memberHash(next.refresh.token, familyId);
      keys.push(k.rt(newHash));
      args.push(newHash, JSON.stringify(next.refresh.record), ttl(next.refresh.record.familyExp, now));
    }
    // A new access token may outlive the family's end: keep the subject index alive as long.
    const end = Math.max(next.access.record.exp, next.refresh?.record.familyExp ?? 0);
    const result = await this.call('rotate', async () => {
      await this.run('subject', [this.subjectKey(next.access.record.sub)], ['', ttl(end, now)]);
      return this.run('rotate', keys, args);
    });
    if (typeof result !== 'string' || !RESULTS.includes(result)) throw new StoreUnavailableError(`rotate: unexpected reply ${String(result)}`);
    return result as RotateResult;
  }

  async revokeIfRotated(presented: string): Promise<boolean> {
    const parsed = parseToken(presented);
    if (!parsed) return false;
    const { familyId, hash } = parsed;
    const k = this.keysOf(familyId);
    const keys = [k.fam, k.members, k.rt(hash)];
    return (await this.call('revokeIfRotated', () => this.run('revokeIfRotated', keys, [hash]))) === 1;
  }

  async revokeFamily(familyId: string): Promise<void> {
    if (!FAMILY_ID.test(familyId)) return;
    await this.call('revokeFamily', () => this.revoke(familyId));
  }

  async revokeSubject(sub: string): Promise<number> {
    const index = this.subjectKey(sub);
    return this.call('revokeSubject', async () => {
      const familyIds = await this.client.smembers(index);
      const revoked = await Promise.all(familyIds.map((id) => this.revoke(id)));
      // Only the ids read: a family created meanwhile stays indexed.
      if (familyIds.length > 0) await this.client.srem(index, ...familyIds);
      return revoked.reduce((sum, existed) => sum + existed, 0);
    });
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.client.ping());
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  /** 1 when the family existed. */
  private async revoke(familyId: string): Promise<number> {
    const k = this.keysOf(familyId);
    const result = await this.run('revoke', [k.fam, k.members], []);
    return result === 1 ? 1 : 0;
  }

  private run(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return this.scripts[name](keys.length, ...keys, ...args);
  }

  /** Runs client commands; any failure becomes a StoreUnavailableError (the cause keeps the detail). */
  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreUnavailableError) throw err;
      const cause = redactRedisError(err);
      throw new StoreUnavailableError(`${operation}: ${cause.message}`, { cause });
    }
  }

  /** The keys of one family, all under its `{familyId}` hash tag. */
  private keysOf(familyId: string): FamilyKeys {
    const tag = `${this.keyPrefix}{${familyId}}`;
    return { fam: `${tag}:fam`, members: `${tag}:keys`, at: (hash) => `${tag}:at:${hash}`, rt: (hash) => `${tag}:rt:${hash}` };
  }

  private subjectKey(sub: string): string {
    return `${this.keyPrefix}sub:{${sub}}`;
  }
}

/** The hash of a token to add to `familyId`; a token of another family is a caller bug. */
function memberHash(token: string, familyId: string): string {
  const parsed = parseToken(token);
  if (!parsed || parsed.familyId !== familyId) {
    throw new TypeError('a token to store must come from newToken(familyId) of its family');
  }
  return parsed.hash;
}

/** Milliseconds from `now` to `exp` (seconds since the epoch); 0 or less means already expired. */
function ttl(exp: number, now: number): number {
  return Math.ceil(exp * 1000 - now);
}

/** The decoded record, or null when absent, unreadable or past its `exp`. */
function liveRecord<R extends GrantRecord>(raw: unknown): R | null {
  if (typeof raw !== 'string') return null;
  let record: R;
  try {
    record = JSON.parse(raw) as R;
  } catch {
    return null;
  }
  return typeof record.exp === 'number' && record.exp * 1000 > Date.now() ? record : null;
}
