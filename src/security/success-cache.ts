/**
 * Remembered successes of an expensive check — a client secret's verification
 * (token-endpoint/clients.ts), a Basic bridge login (resource/basic-bridge.ts) — so a busy
 * caller does not pay argon2id or a directory bind per request.
 *
 * An entry is named by an HMAC-SHA-256, under a random per-process key, of the credentials it
 * stands for: the secret or password itself is never kept, and a memory dump does not give
 * an offline guess. Only successes are remembered (a failure must reach its check and its
 * counter). An entry lives `ttlMs`; an expired one is dropped when read. At most `maxEntries`
 * are kept: a new entry beyond that evicts the oldest, so the cache never grows past its bound
 * and the entries in use are not all thrown away at once.
 */
import { createHmac, randomBytes } from 'node:crypto';

export interface SuccessCacheOptions {
  /** How long a success is remembered; 0 remembers nothing. */
  readonly ttlMs: number;
  /** Most entries kept (default 10,000); the oldest go first. */
  readonly maxEntries?: number;
  /** Clock in ms (tests). Default Date.now. */
  readonly now?: () => number;
}

export class SuccessCache<V> {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, { readonly value: V; readonly until: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: SuccessCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The entry name of `parts` (e.g. client id, username, password), NUL-separated, under the process key. */
  key(...parts: readonly string[]): string {
    const hmac = createHmac('sha256', this.#key);
    for (const [i, part] of parts.entries()) {
      if (i > 0) hmac.update('\0');
      hmac.update(part);
    }
    return hmac.digest('base64url');
  }

  /** The remembered value while it lives; an expired entry is dropped. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.until > this.#now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  /** Remembers a success for `ttlMs` (nothing when 0), evicting the oldest entry when full. */
  set(key: string, value: V): void {
    if (this.#ttlMs <= 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { value, until: this.#now() + this.#ttlMs });
  }
}
