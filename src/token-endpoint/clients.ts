/**
 * The client registry: looks clients up and verifies their secrets (argon2id/bcrypt hashes, or
 * a plain secret from a file compared in constant time). The configuration check
 * (src/config/validate.ts) has already refused unusable or example secrets.
 *
 * A successful verification is remembered for `oauth.clientAuthCacheSeconds` under an HMAC
 * of (client id, secret) with a per-process random key (security/success-cache.ts), so a busy
 * client does not pay an argon2id verification per request; the secret itself is never kept.
 *
 * Failed client authentication (a wrong secret, an unknown client id) counts in the client
 * IP's failure budget (`lockout.ipMaxFailuresPerMinute`, shared with user logins: lockout.ts),
 * and an IP over budget is refused BEFORE any hash is verified, so one IP cannot keep the CPU
 * busy with argon2id. The refusal is the same `invalid_client` as a wrong secret (RFC 6749
 * §5.2): it tells an attacker nothing new, and a legitimate client already holding a cached
 * success (above) is not refused, since that check costs no hash (docs/security.md).
 *
 * Secret rotation (docs/operations.md, "Client secret rotation"): a client may have secondary
 * secrets (`secondarySecretHashes`), each accepted until its `secondarySecretsNotAfter`.
 * Secret 0 is `secretHash`/`secretFile`, 1… the secondaries. A failed reading costs the same
 * verifications whatever client it names and however many secrets that client has: secret 0,
 * then one verification per *secondary slot* — the most secondaries any configured client has
 * — burning a dummy verification for each slot the client leaves empty or whose secret expired.
 * Without secondaries anywhere there are no slots and the cost is today's.
 */
import type { ClientConfig } from '../config/types.js';
import { secretsEqual } from '../security/constant-time.js';
import type { IpAttempt } from '../security/lockout.js';
import { burnVerification, verifySecret } from '../security/password-hash.js';
import type { ClientCredentials } from './basic-credentials.js';
import { secretNotAfter } from '../config/formats.js';
import { SuccessCache } from '../security/success-cache.js';

/** A secondary secret: its hash and end (ms since the epoch; undefined = none). */
interface SecondarySecret {
  readonly hash: string;
  readonly notAfter: number | undefined;
}

/** Told of every successful client authentication and which secret matched, by index (never its value). */
export type SecretMatchObserver = (clientId: string, secretIndex: number, cached: boolean) => void;

/** The client IP's failure budget (a {@link import('../security/lockout.js').Lockout} and what to do when it runs out). */
export interface ClientAuthBudget {
  /**
   * Reserves one attempt of `ip`; undefined when the IP is over its budget.
   * @throws TemporarilyUnavailableError when attempts in flight fill the budget (503).
   */
  reserveIp(ip: string): Promise<IpAttempt | undefined>;
  /** Failures at which an IP is refused. */
  readonly ipBudget: number;
  /** Called when a failed client authentication used up the IP's budget (log, metric). */
  readonly onIpBlocked?: (clientIp: string) => void;
}

export class ClientRegistry {
  private readonly byId: ReadonlyMap<string, ClientConfig>;
  /** Remembered successes: which secret matched. */
  private readonly verified: SuccessCache<number>;
  /**
   * Verifications under way, by the remembered-success key of their reading: a concurrent
   * request with the same credentials waits for that one instead of verifying again, so a
   * burst of one client (its remembered success just expired) costs one argon2id verification
   * and its 64 MiB, not one per request. Shared only when it succeeds: a failure is verified,
   * and counted, for each request itself.
   */
  readonly #verifying = new Map<string, Promise<number | undefined>>();
  private readonly secondaries: ReadonlyMap<string, readonly SecondarySecret[]>;
  /** Secondary verifications every reading costs: the most secondaries of any client. */
  readonly secondarySlots: number;
  /** Configured ids that contain a colon (raw Basic readings, basic-credentials.ts). */
  readonly idsWithColon: readonly string[];

  /**
   * @param budget counts failed client authentication per client IP; none: not counted (unit tests).
   * @param onMatch told which secret matched (log, metric); `now` is the clock for secret ends.
   */
  constructor(
    clients: readonly ClientConfig[],
    cacheSeconds: number,
    private readonly budget?: ClientAuthBudget,
    private readonly options: { readonly onMatch?: SecretMatchObserver; readonly now?: () => number } = {},
  ) {
    this.byId = new Map(clients.map((c) => [c.id, c]));
    this.verified = new SuccessCache({ ttlMs: cacheSeconds * 1000, now: () => this.now() });
    this.idsWithColon = clients.map((c) => c.id).filter((id) => id.includes(':'));
    this.secondaries = new Map(
      clients.map((c) => [
        c.id,
        (c.secondarySecretHashes ?? []).map((hash, i) => ({ hash, notAfter: secretNotAfter(c.secondarySecretsNotAfter?.[i]) })),
      ]),
    );
    this.secondarySlots = Math.max(0, ...[...this.secondaries.values()].map((list) => list.length));
  }

  get(id: string): ClientConfig | undefined {
    return this.byId.get(id);
  }

  /**
   * The client when `secret` is its secret; undefined otherwise, also when `clientIp` is over
   * its failure budget (the time spent is alike for unknown clients).
   * @throws TemporarilyUnavailableError when the hash verification queue is full (password-hash.ts).
   */
  authenticate(id: string, secret: string, clientIp: string): Promise<ClientConfig | undefined> {
    return this.authenticateAny([{ id, secret }], clientIp);
  }

  /**
   * The client of the first of `candidates` (readings of one Basic header, basic-credentials.ts)
   * whose secret is right; undefined when none is, or when `clientIp` is over its failure budget.
   * One authentication attempt however many readings it holds: remembered successes are looked
   * up for all of them before any hash is verified, and a failure counts once in the IP's budget.
   * A failure costs one verification per reading (burnt ones for unknown or public clients and
   * empty secrets — never accepted from a confidential client), at least one, so its time does
   * not tell which ids exist.
   * @throws TemporarilyUnavailableError when the hash verification queue is full (password-hash.ts).
   */
  async authenticateAny(candidates: readonly ClientCredentials[], clientIp: string): Promise<ClientConfig | undefined> {
    const verifiable = candidates.flatMap(({ id, secret }) => {
      const client = this.byId.get(id);
      return client && !client.public && secret !== '' ? [{ client, secret, key: this.rememberKey({ id, secret }) }] : [];
    });
    for (const r of verifiable) {
      const index = this.remembered(r.key, r.client.id);
      if (index === undefined) continue;
      this.options.onMatch?.(r.client.id, index, true);
      return r.client;
    }
    for (const r of verifiable) {
      const pending = this.#verifying.get(r.key);
      if (!pending) continue;
      const index = await pending;
      if (index === undefined) continue;
      this.options.onMatch?.(r.client.id, index, true);
      return r.client;
    }
    let matched: { readonly reading: (typeof verifiable)[number]; readonly index: number } | undefined;
    const settle = new Map<string, (index: number | undefined) => void>();
    for (const r of verifiable) {
      if (this.#verifying.has(r.key)) continue;
      this.#verifying.set(r.key, new Promise((resolve) => settle.set(r.key, resolve)));
    }
    try {
      await this.#budgeted(clientIp, async () => {
        for (const r of verifiable) {
          const index = await this.#matchingSecret(r.client, r.secret);
          if (index !== undefined) {
            matched = { reading: r, index };
            return true;
          }
        }
        const perReading = 1 + this.secondarySlots;
        for (let i = verifiable.length * perReading; i < Math.max(1, candidates.length) * perReading; i++) await burnVerification();
        return false;
      });
    } finally {
      for (const [key, resolve] of settle) {
        this.#verifying.delete(key);
        resolve(matched?.reading.key === key ? matched.index : undefined);
      }
    }
    if (!matched) return undefined;
    this.remember(matched.reading.key, matched.index);
    this.options.onMatch?.(matched.reading.client.id, matched.index, false);
    return matched.reading.client;
  }

  /**
   * The index of the client's secret that `secret` is (0: secretHash/secretFile, 1…: the
   * secondaries), or undefined. A miss always costs secret 0 plus every secondary slot.
   */
  async #matchingSecret(client: ClientConfig, secret: string): Promise<number | undefined> {
    const primary = client.secretHash ? await verifySecret(client.secretHash, secret) : secretsEqual(client.secret, secret);
    if (primary) return 0;
    const secondaries = this.secondaries.get(client.id) ?? [];
    for (let slot = 0; slot < this.secondarySlots; slot++) {
      const candidate = secondaries[slot];
      if (!candidate || !this.live(candidate)) {
        await burnVerification();
        continue;
      }
      if (await verifySecret(candidate.hash, secret)) return slot + 1;
    }
    return undefined;
  }

  private live(secret: SecondarySecret): boolean {
    return secret.notAfter === undefined || this.now() < secret.notAfter;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /**
   * A public client named by `client_id` alone (no secret). Any other id is a failed client
   * authentication, counted in the IP's budget like a wrong secret.
   */
  async publicClient(id: string, clientIp: string): Promise<ClientConfig | undefined> {
    const client = this.byId.get(id);
    if (client?.public) return client;
    await this.#budgeted(clientIp, async () => false);
    return undefined;
  }

  private rememberKey({ id, secret }: ClientCredentials): string {
    return this.verified.key(id, secret);
  }

  /** The index of the secret a remembered success matched, while remembered and that secret still lives. */
  private remembered(key: string, clientId: string): number | undefined {
    const index = this.verified.get(key);
    if (index === undefined) return undefined;
    const secondary = index > 0 ? this.secondaries.get(clientId)?.[index - 1] : undefined;
    if (secondary && !this.live(secondary)) return undefined;
    return index;
  }

  private remember(key: string, index: number): void {
    this.verified.set(key, index);
  }

  /** Runs `verify` inside a reservation of the IP's budget: false counts a failure; over budget it is not run. */
  async #budgeted(clientIp: string, verify: () => Promise<boolean>): Promise<boolean> {
    if (!this.budget) return verify();
    const attempt = await this.budget.reserveIp(clientIp);
    if (!attempt) return false;
    let ok: boolean;
    try {
      ok = await verify();
    } catch (err) {
      await attempt.settle('released').catch(() => undefined);
      throw err;
    }
    const failures = await attempt.settle(ok ? 'success' : 'failure');
    if (failures === this.budget.ipBudget) this.budget.onIpBlocked?.(clientIp);
    return ok;
  }
}
