/**
 * The Redis token store (docs/architecture.md). Every family operation (write, revocation, rotation-state
 * read) runs as one Lua script, so rotation and reuse detection are atomic, also under Cluster.
 *
 * Key layout (P = keyPrefix, F = family id, H = SHA-256 of a token, S = subject):
 * - `P{F}:at:H`  access record (JSON), expires at the record's `exp`
 * - `P{F}:rt:H`  refresh record (JSON), expires at `familyExp`; rotated ones stay until then
 *                so a reuse can be detected
 * - `P{F}:fam`   hash: `rt` (H of the current refresh token, '' when none), `sub`, `cid`, `exp`
 * - `P{F}:keys`  set of the family's `at`/`rt`/`grace` key names, for revocation
 * - `P{F}:grace` JSON {from, to, sealed}: the last rotation's presented and new refresh token
 *                hashes and its successor pair sealed for the presented token
 *                (successor-seal.ts); only when `oauth.refreshReuseGraceSeconds` > 0, expires
 *                with the grace window
 * - `Psub:{S}`   set of the subject's family ids, for revokeSubject
 * The `{F}` hash tag puts all keys of a family in one Cluster slot. `fam` and `keys` live as
 * long as the longest-lived member; `sub:{S}` as long as the subject's longest-lived family.
 *
 * Revocations: the script that revokes also PUBLISHes on the channel `P` + `revocations`
 * (`f:F` for a family, `t:H` for one access token), atomically with the revocation, so every
 * replica's cache hears of it — also of revocations by the `revoke` CLI or reuse detection.
 *
 * Every client error is rethrown as {@link StoreUnavailableError}, its cause a plain copy of the
 * ioredis error without the command arguments (records hold personal attributes).
 */
import type { Cluster, Redis } from 'ioredis';
import { redactRedisError } from './redis-connection.js';
import { SCRIPTS, type ScriptName } from './redis-scripts.js';
import { RedisRevocationFeed, familyMessage, tokenMessage } from './revocation-feed.js';
import { openSuccessor, sealSuccessor } from './successor-seal.js';
import { parseToken } from './token-value.js';
import {
  StoreUnavailableError,
  type AccessRef,
  type GrantRecord,
  type NewFamily,
  type RefreshRecord,
  type RevocationEvent,
  type RevocationWatch,
  type RotateOptions,
  type RotateResult,
  type RotatedOutcome,
  type Successor,
  type TokenInfo,
  type TokenStore,
} from './types.js';

interface FamilyKeys {
  readonly fam: string;
  readonly members: string;
  readonly grace: string;
  at(hash: string): string;
  rt(hash: string): string;
}
type ScriptCommand = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

/** A family id as `newFamilyId()` makes it; anything else cannot name a family. */
const FAMILY_ID = /^[A-Za-z0-9_-]{22}$/;
const RESULTS: readonly string[] = ['rotated', 'superseded', 'reused', 'invalid'] satisfies RotateResult[];

/**
 * {@link TokenStore} on Redis (single node, Sentinel or Cluster). Concurrent `rotate()` calls
 * with one refresh token run one after the other in Redis: the first returns `rotated`; the
 * next finds the token rotated, revokes the family (the winner's new tokens too) and returns
 * `reused`; the later ones find no family and return `invalid`. With a reuse grace
 * (`rotate(…, { graceSeconds })`) the losers answer `superseded` and `settleRotated` hands them
 * the winner's successor while the `grace` key lives (its TTL is the window).
 *
 * `close()` quits the client (and the subscriber of `watchRevocations`): give each store a
 * client of its own.
 */
export class RedisTokenStore implements TokenStore {
  private readonly scripts: Record<ScriptName, ScriptCommand>;
  /** The pub/sub channel of revocations: `keyPrefix` + `revocations`. */
  readonly channel: string;
  private readonly watchers = new Set<(event: RevocationEvent) => void>();
  private feed: RedisRevocationFeed | undefined;

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
    this.channel = `${keyPrefix}revocations`;
  }

  async createFamily(family: NewFamily): Promise<void> {
    const { familyId, access, refresh } = family;
    const now = Date.now();
    const k = this.keysOf(familyId);
    const tokenKeys = [k.at(memberHash(access.token, familyId))];
    const args: (string | number)[] = [
      family.sub,
      family.clientId,
      family.exp,
      ttl(family.exp, now),
      JSON.stringify(access.record),
      ttl(access.record.exp, now),
    ];
    if (refresh) {
      const hash = memberHash(refresh.token, familyId);
      tokenKeys.push(k.rt(hash));
      args.push(hash, JSON.stringify(refresh.record), ttl(refresh.record.familyExp, now));
    }
    const end = Math.max(family.exp, access.record.exp, refresh?.record.familyExp ?? 0);
    const index = [this.subjectKey(family.sub)];
    const indexArgs = [familyId, ttl(end, now)];
    await this.call('createFamily', async () => {
      // On one node, the index and the family in one script (one round trip of a login's
      // three). Under Cluster the index is in another slot: index first, as a family missing
      // from its subject's index could not be revoked by subject.
      if (!this.client.isCluster) {
        await this.run('createIndexed', [k.fam, k.members, ...index, ...tokenKeys], [...indexArgs, ...args]);
        return;
      }
      await this.run('subject', index, indexArgs);
      await this.run('create', [k.fam, k.members, ...tokenKeys], args);
    });
  }

  async getAccess(token: string): Promise<GrantRecord | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const raw = await this.call('getAccess', () => this.client.get(this.keysOf(parsed.familyId).at(parsed.hash)));
    return liveRecord<GrantRecord>(raw);
  }

  async getAccessByRef(ref: AccessRef): Promise<GrantRecord | null> {
    if (!validRef(ref)) return null;
    const raw = await this.call('getAccessByRef', () => this.client.get(this.keysOf(ref.familyId).at(ref.hash)));
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

  async rotate(presented: string, next: Successor, options: RotateOptions = {}): Promise<RotateResult> {
    const parsed = parseToken(presented);
    if (!parsed) return 'invalid';
    const { familyId, hash } = parsed;
    const now = Date.now();
    const k = this.keysOf(familyId);
    const keys = [k.fam, k.members, k.grace, k.rt(hash), k.at(memberHash(next.access.token, familyId))];
    const graceMs = next.refresh ? Math.max(0, (options.graceSeconds ?? 0) * 1000) : 0;
    const sealed = graceMs > 0 ? sealSuccessor(presented, familyId, next) : '';
    const args: (string | number)[] = [
      this.channel,
      familyMessage(familyId),
      hash,
      now,
      JSON.stringify(next.access.record),
      ttl(next.access.record.exp, now),
      graceMs,
      sealed,
    ];
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
    if (typeof result !== 'string' || !RESULTS.includes(result))
      throw new StoreUnavailableError(`rotate: unexpected reply ${String(result)}`);
    if (result === 'reused') this.emit({ kind: 'family', familyId });
    return result as RotateResult;
  }

  async revokeIfRotated(presented: string): Promise<RefreshRecord | null> {
    const parsed = parseToken(presented);
    if (!parsed) return null;
    const { familyId, hash } = parsed;
    const k = this.keysOf(familyId);
    const keys = [k.fam, k.members, k.rt(hash)];
    const reply = await this.call('revokeIfRotated', () =>
      this.run('revokeIfRotated', keys, [this.channel, familyMessage(familyId), hash]),
    );
    if (typeof reply !== 'string') return null;
    this.emit({ kind: 'family', familyId });
    return decode<RefreshRecord>(reply);
  }

  async settleRotated(presented: string, clientId: string, graceSeconds: number): Promise<RotatedOutcome | null> {
    const parsed = parseToken(presented);
    if (!parsed) return null;
    const { familyId, hash } = parsed;
    const k = this.keysOf(familyId);
    const keys = [k.fam, k.members, k.grace, k.rt(hash)];
    const args = [this.channel, familyMessage(familyId), hash, clientId, Math.max(0, graceSeconds * 1000)];
    const reply = await this.call('settleRotated', () => this.run('settleRotated', keys, args));
    if (!Array.isArray(reply)) return null;
    const [kind, value] = reply as unknown[];
    if (kind === 'replay' && typeof value === 'string') {
      const successor = openSuccessor(presented, familyId, value);
      if (successor) return { kind: 'replay', successor };
      // A seal that does not open cannot come from this token's rotation: treat it as a reuse.
      const record = await this.revokeIfRotated(presented);
      return record ? { kind: 'reused', record } : null;
    }
    const record = decode<RefreshRecord>(value);
    this.emit({ kind: 'family', familyId });
    return record ? { kind: 'reused', record } : null;
  }

  async revokeFamily(familyId: string): Promise<boolean> {
    if (!FAMILY_ID.test(familyId)) return false;
    return (await this.call('revokeFamily', () => this.revoke(familyId))) === 1;
  }

  async revokeSubject(sub: string): Promise<number> {
    const index = this.subjectKey(sub);
    return this.call('revokeSubject', async () => {
      const familyIds = (await this.client.smembers(index)).filter((id) => FAMILY_ID.test(id));
      const revoked = await Promise.all(familyIds.map((id) => this.revoke(id)));
      // Only the ids read: a family created meanwhile stays indexed.
      if (familyIds.length > 0) await this.client.srem(index, ...familyIds);
      return revoked.reduce((sum, existed) => sum + existed, 0);
    });
  }

  async describeToken(token: string): Promise<TokenInfo | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const k = this.keysOf(parsed.familyId);
    const reply = await this.call('describeToken', () =>
      this.run('describe', [k.fam, k.at(parsed.hash), k.rt(parsed.hash)], [parsed.hash]),
    );
    if (!Array.isArray(reply)) return null;
    const [type, raw, current] = reply as unknown[];
    if (type === 'access') {
      const record = liveRecord<GrantRecord>(raw);
      return record && { type: 'access', record };
    }
    const record = decode<RefreshRecord>(raw);
    if (type !== 'refresh' || !record || typeof record.familyExp !== 'number' || record.familyExp * 1000 <= Date.now()) return null;
    return { type: 'refresh', record, current: current === 1 };
  }

  async revokeAccess(token: string): Promise<boolean> {
    const parsed = parseToken(token);
    return parsed ? this.revokeAccessByRef(parsed) : false;
  }

  async revokeAccessByRef(ref: AccessRef): Promise<boolean> {
    if (!validRef(ref)) return false;
    const k = this.keysOf(ref.familyId);
    const args = [this.channel, tokenMessage(ref.hash)];
    const revoked = (await this.call('revokeAccess', () => this.run('revokeAccess', [k.members, k.at(ref.hash)], args))) === 1;
    if (revoked) this.emit({ kind: 'token', hash: ref.hash });
    return revoked;
  }

  /**
   * Local revocations are delivered at once; those of other processes through a subscriber
   * connection (a duplicate of the client) on {@link channel}, checked every second. While the
   * subscriber is disconnected or does not answer, the watch is not `live`, and each loss of
   * the subscription is delivered as a `reset`.
   */
  watchRevocations(listener: (event: RevocationEvent) => void): RevocationWatch {
    this.watchers.add(listener);
    this.feed ??= new RedisRevocationFeed(this.client, this.channel, (event) => {
      for (const watcher of this.watchers) watcher(event);
    });
    const feed = this.feed;
    const watchers = this.watchers;
    return {
      get live() {
        return feed.live;
      },
      async close() {
        watchers.delete(listener);
      },
    };
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.client.ping());
  }

  async close(): Promise<void> {
    this.watchers.clear();
    this.feed?.close();
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  /** 1 when the family existed (its revocation is then published and delivered locally). */
  private async revoke(familyId: string): Promise<number> {
    const k = this.keysOf(familyId);
    const result = await this.run('revoke', [k.fam, k.members], [this.channel, familyMessage(familyId)]);
    if (result !== 1) return 0;
    this.emit({ kind: 'family', familyId });
    return 1;
  }

  private emit(event: RevocationEvent): void {
    for (const watcher of this.watchers) watcher(event);
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
    return {
      fam: `${tag}:fam`,
      members: `${tag}:keys`,
      grace: `${tag}:grace`,
      at: (hash) => `${tag}:at:${hash}`,
      rt: (hash) => `${tag}:rt:${hash}`,
    };
  }

  private subjectKey(sub: string): string {
    return `${this.keyPrefix}sub:{${sub}}`;
  }
}

/** A reference that can name a stored access token: a family id and a SHA-256 as the store makes them. */
function validRef(ref: AccessRef): boolean {
  return FAMILY_ID.test(ref.familyId) && /^[A-Za-z0-9_-]{43}$/.test(ref.hash);
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
  const record = decode<R>(raw);
  return record && typeof record.exp === 'number' && record.exp * 1000 > Date.now() ? record : null;
}

function decode<R extends GrantRecord>(raw: unknown): R | null {
  if (typeof raw !== 'string') return null;
  try {
    const record: unknown = JSON.parse(raw);
    return typeof record === 'object' && record !== null ? (record as R) : null;
  } catch {
    return null;
  }
}
