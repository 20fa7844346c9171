/**
 * The incumbent authorization server as a second source of access tokens on the resource path
 * (docs/migrating-from-pingfederate.md): a token that is not one of the gateway's own
 * (token-source.ts decides) is sent to the incumbent's RFC 7662 introspection endpoint
 * (PingFederate: `/as/introspect.oauth2`), and its answer is mapped to a token record
 * (incumbent-claims.ts). For one lookup, in order:
 *
 *   1. cache      the answer given for this token's hash lately (incumbent-cache.ts): active
 *                 answers for `cacheSeconds` at most and never past the token's `exp`,
 *                 inactive ones for `negativeCacheSeconds`
 *   2. coalesce   concurrent lookups of one token share one introspection request
 *   3. breaker    while the incumbent is failing (circuit-breaker.ts), refuse at once: 503
 *   4. introspect POST `token=…&token_type_hint=access_token` (RFC 7662 §2.1), the client
 *                 authenticated by HTTP Basic (RFC 6749 §2.3.1) — or, without a secret,
 *                 `client_id` in the form; its own keep-alive pool of `maxConnections`, and
 *                 `timeoutMs` for the whole exchange (queueing for a connection included)
 *   5. map        an RFC 7662 §2.2 answer to a record, or inactive; anything else (no answer,
 *                 a timeout, a status other than 200, a body that is not an RFC 7662 object)
 *                 is an outage: 503, the same body as a token store outage, never a pass
 *
 * The lookups of the gateway's own tokens never come here, so an incumbent outage costs them
 * nothing. The token is only ever sent in the request body; the cache holds its SHA-256.
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { TemporarilyUnavailableError } from '../oauth/errors.js';
import type { Logger } from '../observability/logger.js';
import { OutageLog } from '../observability/outage-log.js';
import { hashToken } from '../tokens/token-value.js';
import type { GrantRecord } from '../tokens/types.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { IncumbentCache } from './incumbent-cache.js';
import { mapIntrospection, type ClaimMapping } from './incumbent-claims.js';

/** What one lookup came to, in `ropc_incumbent_introspections_total{outcome}`. */
export type IncumbentOutcome = 'active' | 'inactive' | 'unmapped' | 'cached' | 'error' | 'timeout' | 'short_circuited';
export const INCUMBENT_OUTCOMES: readonly IncumbentOutcome[] = [
  'active',
  'inactive',
  'unmapped',
  'cached',
  'error',
  'timeout',
  'short_circuited',
];

export interface IncumbentIntrospectionOptions {
  /** `incumbent.introspection.url`: the RFC 7662 endpoint. */
  readonly url: string;
  readonly clientId: string;
  /** '' sends `client_id` in the form instead of HTTP Basic (PingFederate allows a client without a secret). */
  readonly clientSecret: string;
  /** PEM CA bundle for an https endpoint; '' = the system CAs. */
  readonly caFile: string;
  readonly timeoutMs: number;
  readonly maxConnections: number;
  readonly cacheSeconds: number;
  readonly negativeCacheSeconds: number;
  readonly cacheMaxEntries: number;
  readonly breaker: { readonly failureThreshold: number; readonly openSeconds: number };
  readonly claims: ClaimMapping;
  readonly logger: Logger;
  readonly observe?: (outcome: IncumbentOutcome) => void;
  /** The breaker opened (`true`) or closed again (`false`). */
  readonly onBreaker?: (open: boolean) => void;
  readonly now?: () => number;
}

/** The incumbent could not say whether a token is active: 503, as for a token store outage. */
export class IncumbentUnavailableError extends TemporarilyUnavailableError {
  constructor(retryAfterSeconds = 5) {
    super('the service is temporarily unavailable, retry later', retryAfterSeconds);
  }
}

/** Largest answer read from the incumbent; a bigger one is an outage, not a token. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they are joined and base64-encoded. */
function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

class Unanswered extends Error {}

export class IncumbentIntrospection {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #headers: Record<string, string>;
  readonly #formPrefix: string;
  readonly #cache: IncumbentCache;
  readonly #breaker: CircuitBreaker;
  readonly #inFlight = new Map<string, Promise<GrantRecord | null>>();
  readonly #outage: OutageLog;
  readonly #now: () => number;

  constructor(private readonly options: IncumbentIntrospectionOptions) {
    const url = new URL(options.url);
    this.#now = options.now ?? Date.now;
    this.#path = url.pathname + url.search;
    this.#pool = new Pool(url.origin, {
      connections: options.maxConnections,
      ...(options.caFile ? { connect: { ca: readFileSync(options.caFile) } } : {}),
    });
    this.#headers = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      ...(options.clientSecret ? { authorization: basic(options.clientId, options.clientSecret) } : {}),
    };
    this.#formPrefix = options.clientSecret ? '' : `client_id=${encodeURIComponent(options.clientId)}&`;
    this.#cache = new IncumbentCache({
      positiveMs: options.cacheSeconds * 1000,
      negativeMs: options.negativeCacheSeconds * 1000,
      maxEntries: options.cacheMaxEntries,
      now: this.#now,
    });
    this.#outage = new OutageLog(options.logger, 'the incumbent introspection endpoint');
    this.#breaker = new CircuitBreaker({
      failureThreshold: options.breaker.failureThreshold,
      openMs: options.breaker.openSeconds * 1000,
      now: this.#now,
      onChange: (open) => {
        if (open)
          options.logger.warn(
            { event: 'incumbent_breaker_open', openSeconds: options.breaker.openSeconds },
            'incumbent introspection keeps failing: its tokens are refused with 503 without asking it, until a trial request succeeds',
          );
        else
          options.logger.warn(
            { event: 'incumbent_breaker_closed' },
            'incumbent introspection answered a trial request: its tokens are checked again',
          );
        options.onBreaker?.(open);
      },
    });
  }

  /**
   * The record of an incumbent's access token, or null when it is not active (or not an
   * access token this gateway can map).
   * @throws IncumbentUnavailableError when the incumbent cannot answer (503, fail closed)
   */
  lookup(token: string): Promise<GrantRecord | null> {
    const hash = hashToken(token);
    const cached = this.#cache.get(hash);
    if (cached !== undefined) {
      this.options.observe?.('cached');
      return Promise.resolve(cached);
    }
    const pending = this.#inFlight.get(hash);
    if (pending) return pending;
    const asked = this.#ask(token, hash).finally(() => this.#inFlight.delete(hash));
    this.#inFlight.set(hash, asked);
    return asked;
  }

  /** Stops the connection pool; requests in flight fail (and answer 503). */
  async close(): Promise<void> {
    await this.#pool.destroy().catch(() => undefined);
  }

  async #ask(token: string, hash: string): Promise<GrantRecord | null> {
    if (!this.#breaker.tryAcquire()) {
      this.options.observe?.('short_circuited');
      throw new IncumbentUnavailableError(this.#breaker.retryAfterSeconds());
    }
    let body: unknown;
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    try {
      body = await this.#introspect(token, signal);
    } catch (err) {
      this.#failed(signal.aborted ? 'timeout' : 'error', err);
    }
    const nowSeconds = Math.floor(this.#now() / 1000);
    const mapped = mapIntrospection(body, this.options.claims, nowSeconds, this.options.cacheSeconds);
    if (mapped.kind === 'malformed') this.#failed('error', new Unanswered(mapped.why));
    this.#breaker.succeeded();
    this.#outage.up();
    switch (mapped.kind) {
      case 'active':
        this.#cache.set(hash, mapped.record);
        this.options.observe?.('active');
        return mapped.record;
      case 'unmapped':
        this.options.logger.debug(
          { event: 'incumbent_token_unmapped', why: mapped.why },
          'an active incumbent token cannot be used as an access token here',
        );
        this.#cache.set(hash, null);
        this.options.observe?.('unmapped');
        return null;
      default:
        this.#cache.set(hash, null);
        this.options.observe?.('inactive');
        return null;
    }
  }

  /** Step 4: the parsed JSON answer of a 200; throws on anything else. */
  async #introspect(token: string, signal: AbortSignal): Promise<unknown> {
    const { statusCode, body } = await this.#pool.request({
      method: 'POST',
      path: this.#path,
      headers: this.#headers,
      body: `${this.#formPrefix}token=${encodeURIComponent(token)}&token_type_hint=access_token`,
      signal,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) {
        body.destroy();
        throw new Unanswered(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    // 401/403: the incumbent refused the gateway's own client credentials — an outage of this source, not a verdict on the token.
    if (statusCode !== 200) throw new Unanswered(`the introspection endpoint answered HTTP ${statusCode}`);
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch {
      throw new Unanswered('the answer is not JSON');
    }
  }

  #failed(outcome: 'timeout' | 'error', err: unknown): never {
    this.#breaker.failed();
    this.options.observe?.(outcome);
    // Only the message and code: an HTTP client error carries no credentials, but its objects do.
    const detail = {
      event: 'incumbent_unavailable',
      outcome,
      err: { message: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown }).code },
    };
    if (this.#outage.down())
      this.options.logger.warn(detail, 'the incumbent introspection endpoint is failing: its tokens are refused with 503');
    else this.options.logger.debug(detail, 'incumbent introspection failed');
    throw new IncumbentUnavailableError();
  }
}
