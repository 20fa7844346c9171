/**
 * The bounded cache of the incumbent's introspection answers (incumbent-introspection.ts,
 * docs/migrating-from-pingfederate.md "Caching and revocation"):
 *
 * - keyed by the SHA-256 of the token (tokens/token-value.ts `hashToken`), never the token;
 * - an active answer is kept `positiveMs`, never past the token's own `exp`: a token the
 *   incumbent revokes is refused here at the latest `positiveMs` later;
 * - an inactive answer is kept `negativeMs` (0: not at all), so a client retrying a dead
 *   token does not send the incumbent one request per retry;
 * - at most `maxEntries` entries; the oldest is dropped first.
 */
import type { GrantRecord } from '../tokens/types.js';

/** What the incumbent said about one token: its mapped record, or null for inactive. */
export type IncumbentAnswer = GrantRecord | null;

export interface IncumbentCacheOptions {
  readonly positiveMs: number;
  readonly negativeMs: number;
  readonly maxEntries: number;
  readonly now?: () => number;
}

interface Entry {
  readonly answer: IncumbentAnswer;
  /** ms since the epoch. */
  readonly until: number;
}

export class IncumbentCache {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(private readonly options: IncumbentCacheOptions) {
    this.#now = options.now ?? Date.now;
  }

  /** The cached answer for a token hash, or undefined when there is none (or it lapsed). */
  get(hash: string): IncumbentAnswer | undefined {
    const entry = this.#entries.get(hash);
    if (entry === undefined) return undefined;
    if (entry.until <= this.#now()) {
      this.#entries.delete(hash);
      return undefined;
    }
    return entry.answer;
  }

  set(hash: string, answer: IncumbentAnswer): void {
    const now = this.#now();
    const until = answer ? Math.min(now + this.options.positiveMs, answer.exp * 1000) : now + this.options.negativeMs;
    if (until <= now) return;
    this.#entries.delete(hash);
    while (this.#entries.size >= this.options.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(hash, { answer, until });
  }

  get size(): number {
    return this.#entries.size;
  }
}
