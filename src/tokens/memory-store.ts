/**
 * The in-memory token store (docs/architecture.md): the dev-mode default, for one process only. Same
 * semantics as the Redis store; records are kept under token hashes, never the tokens.
 * Expired entries are dropped when read and by a periodic sweep.
 */
import { systemClock, type Clock } from '../clock.js';
import { openSuccessor, sealSuccessor } from './successor-seal.js';
import { parseToken } from './token-value.js';
import type {
  AccessRef,
  GrantRecord,
  NewFamily,
  RefreshRecord,
  RevocationEvent,
  RevocationWatch,
  RotateOptions,
  RotateResult,
  RotatedOutcome,
  Successor,
  TokenInfo,
  TokenStore,
} from './types.js';

interface Family {
  readonly sub: string;
  readonly clientId: string;
  /** When the last member expires, ms since the epoch; the family is dropped then. */
  end: number;
  /** Hash of the current refresh token; null when the family has none. */
  current: string | null;
  readonly access: Set<string>;
  readonly refresh: Set<string>;
  /** The last rotation's successor, sealed for its presented token, until the grace window ends. */
  grace?: { readonly from: string; readonly to: string; readonly until: number; readonly sealed: string } | undefined;
}

export interface MemoryTokenStoreOptions {
  /** Interval of the sweep that drops expired entries, in ms. Default 60 000. */
  readonly sweepIntervalMs?: number;
  /** The time source (tests move it instead of sleeping). Default the system clock. */
  readonly clock?: Clock;
}

/**
 * {@link TokenStore} in process memory. Calls run one at a time on the event loop, so of
 * concurrent `rotate()` calls with one refresh token the first returns `rotated`, the next
 * `reused` (revoking the family, the winner's new tokens too) and the later ones `invalid`.
 * Revocation watchers hear every revocation synchronously (there is no other process).
 * With a reuse grace (`rotate(…, { graceSeconds })`) the losers answer `superseded` instead and
 * `settleRotated` hands them the winner's successor until the window ends (the store's clock).
 */
export class MemoryTokenStore implements TokenStore {
  /** Token hash → record. Refresh records stay until `familyExp`, rotated or not. */
  private readonly access = new Map<string, GrantRecord>();
  private readonly refresh = new Map<string, RefreshRecord>();
  private readonly families = new Map<string, Family>();
  /** Subject → ids of its families. */
  private readonly subjects = new Map<string, Set<string>>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly watchers = new Set<(event: RevocationEvent) => void>();
  private readonly clock: Clock;

  constructor(options: MemoryTokenStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.sweeper.unref();
  }

  async createFamily(family: NewFamily): Promise<void> {
    const { familyId, access, refresh } = family;
    const accessHash = memberHash(access.token, familyId);
    const refreshHash = refresh ? memberHash(refresh.token, familyId) : null;
    const end = Math.max(family.exp, access.record.exp, refresh?.record.familyExp ?? 0) * 1000;
    this.families.set(familyId, {
      sub: family.sub,
      clientId: family.clientId,
      end,
      current: refreshHash,
      access: new Set([accessHash]),
      refresh: new Set(),
    });
    this.access.set(accessHash, access.record);
    if (refresh && refreshHash) this.addRefresh(familyId, refreshHash, refresh.record);
    const index = this.subjects.get(family.sub) ?? new Set<string>();
    this.subjects.set(family.sub, index.add(familyId));
  }

  async getAccess(token: string): Promise<GrantRecord | null> {
    const parsed = parseToken(token);
    return parsed ? this.getAccessByRef(parsed) : null;
  }

  async getAccessByRef(ref: AccessRef): Promise<GrantRecord | null> {
    const record = this.access.get(ref.hash);
    if (!record || record.familyId !== ref.familyId) return null;
    if (record.exp * 1000 > this.clock.now()) return record;
    this.access.delete(ref.hash);
    return null;
  }

  async getRefresh(token: string): Promise<RefreshRecord | null> {
    const parsed = parseToken(token);
    if (!parsed || this.liveFamily(parsed.familyId)?.current !== parsed.hash) return null;
    const record = this.knownRefresh(parsed.hash);
    return record && record.exp * 1000 > this.clock.now() ? record : null;
  }

  async rotate(presented: string, next: Successor, options: RotateOptions = {}): Promise<RotateResult> {
    const parsed = parseToken(presented);
    if (!parsed) return 'invalid';
    const accessHash = memberHash(next.access.token, parsed.familyId);
    const refreshHash = next.refresh ? memberHash(next.refresh.token, parsed.familyId) : null;
    const family = this.liveFamily(parsed.familyId);
    const record = this.knownRefresh(parsed.hash);
    if (!family || !record || !family.refresh.has(parsed.hash)) return 'invalid';
    if (family.current !== parsed.hash) {
      if (this.graced(family, parsed.hash, options.graceSeconds ?? 0)) return 'superseded';
      this.revoke(parsed.familyId);
      return 'reused';
    }
    if (record.exp * 1000 <= this.clock.now()) return 'invalid';
    family.access.add(accessHash);
    family.end = Math.max(family.end, next.access.record.exp * 1000);
    this.access.set(accessHash, next.access.record);
    if (next.refresh && refreshHash) {
      this.addRefresh(parsed.familyId, refreshHash, next.refresh.record);
      family.current = refreshHash;
      const graceMs = (options.graceSeconds ?? 0) * 1000;
      family.grace =
        graceMs > 0
          ? {
              from: parsed.hash,
              to: refreshHash,
              until: this.clock.now() + graceMs,
              sealed: sealSuccessor(presented, parsed.familyId, next),
            }
          : undefined;
    }
    return 'rotated';
  }

  async revokeIfRotated(presented: string): Promise<RefreshRecord | null> {
    const parsed = parseToken(presented);
    const family = parsed && this.liveFamily(parsed.familyId);
    const record = parsed && this.knownRefresh(parsed.hash);
    if (!parsed || !family?.refresh.has(parsed.hash) || !record) return null;
    if (family.current === parsed.hash) return null;
    this.revoke(parsed.familyId);
    return record;
  }

  async settleRotated(presented: string, clientId: string, graceSeconds: number): Promise<RotatedOutcome | null> {
    const parsed = parseToken(presented);
    const family = parsed && this.liveFamily(parsed.familyId);
    const record = parsed && this.knownRefresh(parsed.hash);
    if (!parsed || !family?.refresh.has(parsed.hash) || !record) return null;
    if (family.current === parsed.hash) return null;
    if (family.clientId === clientId && this.graced(family, parsed.hash, graceSeconds)) {
      const successor = openSuccessor(presented, parsed.familyId, family.grace!.sealed);
      if (successor) return { kind: 'replay', successor };
    }
    this.revoke(parsed.familyId);
    return { kind: 'reused', record };
  }

  async revokeFamily(familyId: string): Promise<boolean> {
    return this.liveFamily(familyId) !== undefined && this.revoke(familyId);
  }

  async revokeSubject(sub: string): Promise<number> {
    let revoked = 0;
    for (const familyId of [...(this.subjects.get(sub) ?? [])]) {
      if (this.liveFamily(familyId) && this.revoke(familyId)) revoked++;
    }
    this.subjects.delete(sub);
    return revoked;
  }

  async describeToken(token: string): Promise<TokenInfo | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const access = await this.getAccess(token);
    if (access) return { type: 'access', record: access };
    const family = this.liveFamily(parsed.familyId);
    const record = this.knownRefresh(parsed.hash);
    if (!family || !record || !family.refresh.has(parsed.hash)) return null;
    return { type: 'refresh', record, current: family.current === parsed.hash };
  }

  async revokeAccess(token: string): Promise<boolean> {
    const parsed = parseToken(token);
    return parsed ? this.revokeAccessByRef(parsed) : false;
  }

  async revokeAccessByRef(ref: AccessRef): Promise<boolean> {
    if (!(await this.getAccessByRef(ref))) return false;
    this.access.delete(ref.hash);
    this.families.get(ref.familyId)?.access.delete(ref.hash);
    this.emit({ kind: 'token', hash: ref.hash });
    return true;
  }

  watchRevocations(listener: (event: RevocationEvent) => void): RevocationWatch {
    this.watchers.add(listener);
    const watchers = this.watchers;
    return {
      live: true,
      async close() {
        watchers.delete(listener);
      },
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.watchers.clear();
  }

  /** Drops a family as a revocation (watchers hear of it); true when it existed. */
  private revoke(familyId: string): boolean {
    if (!this.drop(familyId)) return false;
    this.emit({ kind: 'family', familyId });
    return true;
  }

  /** True when `hash` is the token rotated last, its successor is still current and the window is open. */
  private graced(family: Family, hash: string, graceSeconds: number): boolean {
    const grace = family.grace;
    return graceSeconds > 0 && grace !== undefined && grace.from === hash && grace.to === family.current && grace.until > this.clock.now();
  }

  private emit(event: RevocationEvent): void {
    for (const watcher of this.watchers) watcher(event);
  }

  private addRefresh(familyId: string, hash: string, record: RefreshRecord): void {
    const family = this.families.get(familyId);
    if (!family) return;
    family.refresh.add(hash);
    family.end = Math.max(family.end, record.familyExp * 1000);
    this.refresh.set(hash, record);
  }

  /** A refresh record still kept (rotated or not), i.e. before its family's end. */
  private knownRefresh(hash: string): RefreshRecord | undefined {
    const record = this.refresh.get(hash);
    return record && record.familyExp * 1000 > this.clock.now() ? record : undefined;
  }

  private liveFamily(familyId: string): Family | undefined {
    const family = this.families.get(familyId);
    if (family && family.end <= this.clock.now()) {
      this.drop(familyId);
      return undefined;
    }
    return family;
  }

  /** Removes a family and all its tokens (expiry or revocation); true when it existed. */
  private drop(familyId: string): boolean {
    const family = this.families.get(familyId);
    if (!family) return false;
    for (const hash of family.access) this.access.delete(hash);
    for (const hash of family.refresh) this.refresh.delete(hash);
    this.families.delete(familyId);
    const index = this.subjects.get(family.sub);
    index?.delete(familyId);
    if (index?.size === 0) this.subjects.delete(family.sub);
    return true;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [familyId, family] of this.families) {
      if (family.end <= now) {
        this.drop(familyId);
        continue;
      }
      for (const hash of family.access) {
        if ((this.access.get(hash)?.exp ?? 0) * 1000 > now) continue;
        this.access.delete(hash);
        family.access.delete(hash);
      }
      for (const hash of family.refresh) {
        if ((this.refresh.get(hash)?.familyExp ?? 0) * 1000 > now) continue;
        this.refresh.delete(hash);
        family.refresh.delete(hash);
      }
    }
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
