/**
 * The client registry: looks clients up and verifies their secrets (argon2id/bcrypt hashes, or
 * a plain secret from a file compared in constant time).
 *
 * A successful verification is remembered for `oauth.clientAuthCacheSeconds` under an HMAC
 * of (client id, secret) with a per-process random key, so a busy client does not pay an
 * argon2id verification per request; the secret itself is never kept.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ClientConfig } from '../config/types.js';
import { ConfigError, EXAMPLE_SECRET } from '../config/load.js';
import { secretsEqual } from '../security/constant-time.js';
import { burnVerification, verifySecret } from '../security/password-hash.js';
import type { ClientCredentials } from './basic-credentials.js';

export class ClientRegistry {
  private readonly byId: ReadonlyMap<string, ClientConfig>;
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, number>();
  /** Configured ids that contain a colon (raw Basic readings, basic-credentials.ts). */
  readonly idsWithColon: readonly string[];

  constructor(clients: readonly ClientConfig[], private readonly cacheSeconds: number) {
    this.byId = new Map(clients.map((c) => [c.id, c]));
    this.idsWithColon = clients.map((c) => c.id).filter((id) => id.includes(':'));
  }

  /** Refuses, in production, clients whose hash matches the dev example secret. */
  static async create(clients: readonly ClientConfig[], cacheSeconds: number, mode: 'dev' | 'production'): Promise<ClientRegistry> {
    if (mode === 'production') {
      const problems: string[] = [];
      await Promise.all(
        clients.map(async (c, i) => {
          if (c.secretHash && (await verifySecret(c.secretHash, EXAMPLE_SECRET))) {
            problems.push(`clients[${i}].secretHash: is a hash of the example secret of dev mode; set a secret of your own`);
          }
        }),
      );
      if (problems.length) throw new ConfigError(problems);
    }
    return new ClientRegistry(clients, cacheSeconds);
  }

  get(id: string): ClientConfig | undefined {
    return this.byId.get(id);
  }

  /** The client when `secret` is its secret; undefined otherwise (the time spent is alike for unknown clients). */
  authenticate(id: string, secret: string): Promise<ClientConfig | undefined> {
    return this.authenticateAny([{ id, secret }]);
  }

  /**
   * The client of the first of `candidates` (readings of one Basic header, basic-credentials.ts)
   * whose secret is right; undefined when none is. One authentication attempt however many
   * readings it holds: remembered successes are looked up for all of them before any hash is
   * verified. A failure costs one verification per reading (burnt ones for unknown or public
   * clients and empty secrets — never accepted from a confidential client), at least one, so
   * its time does not tell which ids exist.
   */
  async authenticateAny(candidates: readonly ClientCredentials[]): Promise<ClientConfig | undefined> {
    const verifiable = candidates.flatMap(({ id, secret }) => {
      const client = this.byId.get(id);
      return client && !client.public && secret !== '' ? [{ client, secret, key: this.rememberKey({ id, secret }) }] : [];
    });
    for (const r of verifiable) if (this.remembered(r.key)) return r.client;
    for (const { client, secret, key } of verifiable) {
      const ok = client.secretHash ? await verifySecret(client.secretHash, secret) : secretsEqual(client.secret, secret);
      if (!ok) continue;
      this.remember(key);
      return client;
    }
    for (let i = verifiable.length; i < Math.max(1, candidates.length); i++) await burnVerification();
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
}
