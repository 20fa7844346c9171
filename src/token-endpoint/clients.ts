/**
 * The client registry: looks clients up and verifies their secrets (argon2id/bcrypt hashes, or
 * a plain secret from a file compared in constant time). The configuration check
 * (src/config/validate.ts) has already refused unusable or example secrets.
 *
 * A successful verification is remembered for `oauth.clientAuthCacheSeconds` under an HMAC
 * of (client id, secret) with a per-process random key, so a busy client does not pay an
 * argon2id verification per request; the secret itself is never kept.
 *
 * Failed client authentication (a wrong secret, an unknown client id) counts in the client
 * IP's failure budget (`lockout.ipMaxFailuresPerMinute`, shared with user logins: lockout.ts),
 * and an IP over budget is refused BEFORE any hash is verified, so one IP cannot keep the CPU
 * busy with argon2id. The refusal is the same `invalid_client` as a wrong secret (RFC 6749
 * §5.2): it tells an attacker nothing new, and a legitimate client already holding a cached
 * success (above) is not refused, since that check costs no hash (docs/security.md).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ClientConfig } from '../config/types.js';
import { secretsEqual } from '../security/constant-time.js';
import type { IpAttempt } from '../security/lockout.js';
import { burnVerification, verifySecret } from '../security/password-hash.js';
import type { ClientCredentials } from './basic-credentials.js';

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
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, number>();
  /** Configured ids that contain a colon (raw Basic readings, basic-credentials.ts). */
  readonly idsWithColon: readonly string[];

  /** @param budget counts failed client authentication per client IP; none: not counted (unit tests). */
  constructor(
    clients: readonly ClientConfig[],
    private readonly cacheSeconds: number,
    private readonly budget?: ClientAuthBudget,
  ) {
    this.byId = new Map(clients.map((c) => [c.id, c]));
    this.idsWithColon = clients.map((c) => c.id).filter((id) => id.includes(':'));
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
    for (const r of verifiable) if (this.remembered(r.key)) return r.client;
    let matched: (typeof verifiable)[number] | undefined;
    await this.#budgeted(clientIp, async () => {
      for (const r of verifiable) {
        const ok = r.client.secretHash ? await verifySecret(r.client.secretHash, r.secret) : secretsEqual(r.client.secret, r.secret);
        if (ok) {
          matched = r;
          return true;
        }
      }
      for (let i = verifiable.length; i < Math.max(1, candidates.length); i++) await burnVerification();
      return false;
    });
    if (!matched) return undefined;
    this.remember(matched.key);
    return matched.client;
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
    return createHmac('sha256', this.cacheKey).update(id).update('\0').update(secret).digest('base64url');
  }

  private remembered(key: string): boolean {
    const until = this.verified.get(key);
    return until !== undefined && until > Date.now();
  }

  private remember(key: string): void {
    if (this.cacheSeconds <= 0) return;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(key, Date.now() + this.cacheSeconds * 1000);
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
