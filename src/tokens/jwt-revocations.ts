/**
 * Revoked JWT access tokens, in memory on every replica (docs/token-formats.md, "Revocation").
 *
 * A JWT is checked without a store round trip, so its revocation has to reach every replica:
 * the store's revocation feed (TokenStore.watchRevocations; Redis pub/sub, revocation-feed.ts)
 * delivers each revoked family (`sid`) and access token (`jti`), kept here for `retainSeconds`
 * (the longest access token lifetime: no JWT of a revoked family outlives it) plus `skewMs`:
 * `exp` is the issuing replica's clock, read here against this one's, so on a replica whose
 * clock lags by up to `skewMs` a token lives that much longer than its lifetime.
 *
 * What the memory cannot know is answered `ask-store` (the caller looks the record up in the
 * store, which fails closed when unreachable):
 * - while the feed is not live (subscriber disconnected or not answering its heartbeat);
 * - for a token issued before the feed last became live (plus `skewMs` for clocks between
 *   replicas): a revocation published while this replica was not subscribed — before it
 *   started, or during a feed outage — never arrives. Tokens issued after that were revoked,
 *   if at all, while the feed was live, so their revocation has been heard.
 * - for a token that lives longer than `retainSeconds` (`exp - iat`): issued by a replica with
 *   a longer `oauth.accessTokenTtl` (a rolling change of it), it could outlive the memory of
 *   its revocation.
 * A feed loss is delivered as `reset`; liveness is then measured again from the next check
 * that finds the feed live.
 */
import type { RevocationEvent, RevocationWatch, TokenStore } from './types.js';
import { CLOCK_SKEW_SECONDS } from './jwt-access.js';

export type JwtRevocationAnswer = 'revoked' | 'valid' | 'ask-store';

export interface JwtRevocationOptions {
  /** This replica's access token lifetime (`oauth.accessTokenTtl`), seconds: a revocation is remembered this long plus `skewMs`, and a longer-lived token is left to the store. */
  readonly retainSeconds: number;
  /** Allowed clock difference between replicas, ms. Default CLOCK_SKEW_SECONDS (jwt-access.ts). */
  readonly skewMs?: number;
  /** The clock (ms since the epoch); tests move it. */
  readonly now?: () => number;
}

export class JwtRevocationList {
  /** jti or family id → ms until which it is remembered; insertion order = expiry order. */
  readonly #tokens = new Map<string, number>();
  readonly #families = new Map<string, number>();
  readonly #watch: RevocationWatch;
  readonly #retainMs: number;
  /** The longest token lifetime the memory covers, ms (`retainSeconds`). */
  readonly #lifetimeMs: number;
  readonly #skewMs: number;
  readonly #now: () => number;
  /** When the feed was first seen live since the last reset; undefined while not (yet). */
  #liveSince: number | undefined;

  constructor(store: TokenStore, options: JwtRevocationOptions) {
    this.#skewMs = options.skewMs ?? CLOCK_SKEW_SECONDS * 1000;
    this.#lifetimeMs = options.retainSeconds * 1000;
    this.#retainMs = this.#lifetimeMs + this.#skewMs;
    this.#now = options.now ?? Date.now;
    this.#watch = store.watchRevocations((event) => this.#heard(event));
  }

  /** Whether the JWT naming `jti` and family `sid`, issued at `iat` and expiring at `exp` (seconds), is revoked, as far as memory can tell. */
  check(jti: string, sid: string, iat: number, exp: number): JwtRevocationAnswer {
    const now = this.#now();
    if (this.#remembered(this.#tokens, jti, now) || this.#remembered(this.#families, sid, now)) return 'revoked';
    if (!this.#watch.live) {
      this.#liveSince = undefined;
      return 'ask-store';
    }
    this.#liveSince ??= now;
    if ((exp - iat) * 1000 > this.#lifetimeMs) return 'ask-store';
    return iat * 1000 >= this.#liveSince + this.#skewMs ? 'valid' : 'ask-store';
  }

  /** Remembered revocations (for tests). */
  get size(): number {
    return this.#tokens.size + this.#families.size;
  }

  async close(): Promise<void> {
    await this.#watch.close();
  }

  #heard(event: RevocationEvent): void {
    const until = this.#now() + this.#retainMs;
    switch (event.kind) {
      case 'family':
        this.#add(this.#families, event.familyId, until);
        return;
      case 'token':
        this.#add(this.#tokens, event.hash, until);
        return;
      case 'reset':
        // What was heard stays true; what was missed is covered by asking the store.
        this.#liveSince = undefined;
        return;
    }
  }

  #add(map: Map<string, number>, id: string, until: number): void {
    map.delete(id);
    map.set(id, until);
    // Entries expire in insertion order: drop the expired ones from the front of both maps.
    const now = until - this.#retainMs;
    for (const m of [this.#tokens, this.#families]) {
      for (const [key, end] of m) {
        if (end > now) break;
        m.delete(key);
      }
    }
  }

  #remembered(map: Map<string, number>, id: string, now: number): boolean {
    const until = map.get(id);
    return until !== undefined && until > now;
  }
}
