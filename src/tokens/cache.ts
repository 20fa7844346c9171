/**
 * The local cache of access-token lookups on the resource path (docs/architecture.md, `store.cacheTtlMs`).
 *
 * - Positive answers only: an unknown token always asks the store, so a token is never refused
 *   from the cache and a new one works at once.
 * - An entry lives `ttlMs`, never past the token's own `exp`; at most `maxEntries` entries,
 *   the least recently used dropped first.
 * - Revocations reach it through {@link TokenStore.watchRevocations}: a revoked family or
 *   token is dropped at once on the replica that revoked it and, over Redis pub/sub, on every
 *   other replica. While the feed is not live (subscriber disconnected or unresponsive) the
 *   cache is bypassed and emptied, so a Redis outage still fails closed and no revocation can
 *   be missed unnoticed. `ttlMs` bounds the delay if a message is lost nonetheless.
 * - A lookup that was in flight while any revocation arrived is not stored (its answer may
 *   predate the revocation).
 *
 * Entries are keyed by the SHA-256 of the token, never the token itself.
 */
import { systemClock, type Clock } from '../clock.js';
import { parseToken } from './token-value.js';
import type { GrantRecord, RevocationEvent, RevocationWatch, TokenStore } from './types.js';

export interface TokenCacheOptions {
  /** How long an entry may be served, ms (`store.cacheTtlMs`). */
  readonly ttlMs: number;
  /** Entries kept at most; the least recently used go first. Default 10 000. */
  readonly maxEntries?: number;
  /** The time source of entry lifetimes (tests move it instead of sleeping). Default the system clock. */
  readonly clock?: Clock;
}

interface Entry {
  readonly record: GrantRecord;
  /** ms since the epoch. */
  readonly until: number;
}

export class TokenCache {
  /** Token hash → entry, in least-recently-used-first order. */
  readonly #entries = new Map<string, Entry>();
  /** Family id → hashes of its cached tokens. */
  readonly #families = new Map<string, Set<string>>();
  readonly #watch: RevocationWatch;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #clock: Clock;
  /** Bumped by every revocation event: in-flight lookups that see it change are not stored. */
  #epoch = 0;

  constructor(
    private readonly store: TokenStore,
    options: TokenCacheOptions,
  ) {
    if (!(options.ttlMs > 0)) throw new RangeError('TokenCache needs ttlMs > 0');
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#clock = options.clock ?? systemClock;
    this.#watch = store.watchRevocations((event) => this.#revoked(event));
  }

  /**
   * The record of a live entry, synchronously (the resource path's fast path, handler.ts):
   * undefined when only {@link lookup} can answer — a miss, an entry past its time, a token
   * that is not of our format, or the revocation feed not live.
   */
  peek(token: string): GrantRecord | undefined {
    if (!this.#watch.live) return undefined;
    const parsed = parseToken(token);
    return parsed ? this.#hit(parsed.hash, this.#clock.now()) : undefined;
  }

  /** The live record of an access token, from the cache or the store (which may throw StoreUnavailableError). */
  async lookup(token: string): Promise<GrantRecord | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const now = this.#clock.now();
    if (!this.#watch.live) {
      this.#clear();
      return this.store.getAccess(token);
    }
    const cached = this.#hit(parsed.hash, now);
    if (cached) return cached;
    const stale = this.#entries.get(parsed.hash);
    if (stale) this.#delete(parsed.hash, stale.record.familyId);

    const epoch = this.#epoch;
    const record = await this.store.getAccess(token);
    if (record && epoch === this.#epoch && this.#watch.live) this.#put(parsed.hash, record, this.#clock.now());
    return record;
  }

  /** Number of entries (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  async close(): Promise<void> {
    this.#clear();
    await this.#watch.close();
  }

  /** A live entry's record, made the most recently used; undefined for none or one past its time. */
  #hit(hash: string, now: number): GrantRecord | undefined {
    const hit = this.#entries.get(hash);
    if (!hit || hit.until <= now) return undefined;
    // Re-insert: Map order is the LRU order.
    this.#entries.delete(hash);
    this.#entries.set(hash, hit);
    return hit.record;
  }

  #put(hash: string, record: GrantRecord, now: number): void {
    const until = Math.min(now + this.#ttlMs, record.exp * 1000);
    if (until <= now) return;
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.entries().next().value;
      if (!oldest) break;
      this.#delete(oldest[0], oldest[1].record.familyId);
    }
    this.#entries.set(hash, { record, until });
    const family = this.#families.get(record.familyId) ?? new Set<string>();
    this.#families.set(record.familyId, family.add(hash));
  }

  #revoked(event: RevocationEvent): void {
    this.#epoch++;
    switch (event.kind) {
      case 'family':
        for (const hash of this.#families.get(event.familyId) ?? []) this.#entries.delete(hash);
        this.#families.delete(event.familyId);
        return;
      case 'token': {
        const entry = this.#entries.get(event.hash);
        if (entry) this.#delete(event.hash, entry.record.familyId);
        return;
      }
      case 'reset':
        this.#clear();
        return;
    }
  }

  #delete(hash: string, familyId: string): void {
    this.#entries.delete(hash);
    const family = this.#families.get(familyId);
    family?.delete(hash);
    if (family?.size === 0) this.#families.delete(familyId);
  }

  #clear(): void {
    this.#entries.clear();
    this.#families.clear();
  }
}
