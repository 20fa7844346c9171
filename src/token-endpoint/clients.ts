/**
 * The client registry: looks clients up and verifies their secrets (argon2id/bcrypt hashes, or
 * a plain secret from a file compared in constant time). The configuration check
 * (src/config/validate.ts) has already refused unusable or example secrets.
 *
 * A successful verification is remembered for `oauth.clientAuthCacheSeconds` under an HMAC
 * of (client id, secret) with a per-process random key, so a busy client does not pay an
 * argon2id verification per request; the secret itself is never kept.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ClientConfig } from '../config/types.js';
import { secretsEqual } from '../security/constant-time.js';
import { burnVerification, verifySecret } from '../security/password-hash.js';

export class ClientRegistry {
  private readonly byId: ReadonlyMap<string, ClientConfig>;
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, number>();

  constructor(clients: readonly ClientConfig[], private readonly cacheSeconds: number) {
    this.byId = new Map(clients.map((c) => [c.id, c]));
  }

  get(id: string): ClientConfig | undefined {
    return this.byId.get(id);
  }

  /** The client when `secret` is its secret; undefined otherwise (the time spent is alike for unknown clients). */
  async authenticate(id: string, secret: string): Promise<ClientConfig | undefined> {
    const client = this.byId.get(id);
    if (!client || client.public) {
      await burnVerification();
      return undefined;
    }
    const key = createHmac('sha256', this.cacheKey).update(id).update('\0').update(secret).digest('base64url');
    const until = this.verified.get(key);
    if (until !== undefined && until > Date.now()) return client;
    const ok = client.secretHash ? await verifySecret(client.secretHash, secret) : secretsEqual(client.secret, secret);
    if (!ok) return undefined;
    if (this.cacheSeconds > 0) {
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(key, Date.now() + this.cacheSeconds * 1000);
    }
    return client;
  }
}
