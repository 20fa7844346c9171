/**
 * The Basic bridge (`routes[].auth: bearer-or-basic`): legacy clients that can only send
 * `Authorization: Basic base64(user:password)` (RFC 7617) are let through on the routes that
 * allow it, with the same identity headers as a token.
 *
 * - The credentials are checked by `createPasswordLogin` for the route's `basicClient` — the
 *   one function every password login goes through — so its validator chain, its lockout
 *   and its per-IP failure budget apply exactly as at the token endpoint.
 * - A success is remembered for `basicBridge.cacheSeconds` under an HMAC-SHA-256 (random
 *   per-process key) of client, username and password (security/success-cache.ts); the password itself is never kept.
 *   Failures are never cached: each one reaches the login (and its lockout counter).
 *   Concurrent requests with the same credentials share one login.
 * - The identity: `sub` from the validator, `client_id` = basicClient, `scope` = the client's
 *   defaultScopes (all its scopes when defaultScopes is empty) less the gated scopes the user's
 *   groups do not map to (groupScopes, src/oauth/scope-policy.ts: the same rule as the token
 *   endpoint), groups and attributes from the validator.
 * - Every refusal — malformed value, empty password, unknown user, wrong password, locked
 *   out — is the same {@link InvalidUserCredentialsError}; an outage is thrown as is (503).
 */
import { decodeBasic, splitUserPass } from '../http/basic-auth.js';
import { InvalidUserCredentialsError } from '../oauth/errors.js';
import type { ScopePolicy } from '../oauth/scope-policy.js';
import type { PasswordLogin } from '../security/login.js';
import { SuccessCache } from '../security/success-cache.js';
import type { Identity } from './identity-headers.js';

/** The client fields the bridge needs (a `clients[]` entry). */
export interface BasicClient {
  readonly id: string;
  readonly scopes: readonly string[];
  readonly defaultScopes: readonly string[];
}

export type BasicOutcome = 'cached' | 'valid' | 'invalid';

export interface BasicBridgeOptions {
  readonly login: PasswordLogin;
  readonly clients: readonly BasicClient[];
  readonly scopePolicy: ScopePolicy;
  /** 0 disables the success cache. */
  readonly cacheSeconds: number;
  /** Most cached successes kept (default 10,000); the oldest go first. */
  readonly maxEntries?: number;
  readonly observe?: (outcome: BasicOutcome) => void;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

export interface BasicBridge {
  /**
   * The identity of `Authorization: Basic …` for the route's basicClient.
   * @throws InvalidUserCredentialsError for every kind of refusal.
   * @throws ValidatorUnavailableError (or StoreUnavailableError) on an outage.
   */
  /** @param requestId names the request in the login's audit event. */
  authenticate(clientId: string, authorization: string, clientIp: string, requestId?: string): Promise<Identity>;
}

const REFUSED = 'the Basic credentials were refused';
/**
 * Parses `Basic token68` (RFC 7617 §2, http/basic-auth.ts): base64 of UTF-8 `user-id ":"
 * password`, split at the first colon. Unlike client authentication at the token endpoint
 * (RFC 6749 §2.3.1) nothing is form-decoded. Null when malformed, empty, or holding control
 * characters.
 */
export function parseBasicUser(value: string): { username: string; password: string } | null {
  const decoded = decodeBasic(value);
  return 'userPass' in decoded ? splitUserPass(decoded.userPass) : null;
}

export function createBasicBridge(options: BasicBridgeOptions): BasicBridge {
  const cache = new SuccessCache<Identity>({
    ttlMs: options.cacheSeconds * 1000,
    ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const clients = new Map(options.clients.map((c) => [c.id, c]));
  const inFlight = new Map<string, Promise<Identity>>();

  const login = async (
    client: BasicClient,
    username: string,
    password: string,
    clientIp: string,
    cacheKey: string,
    requestId?: string,
  ): Promise<Identity> => {
    const outcome = await options.login(client.id, username, password, clientIp, {
      via: 'basic_bridge',
      ...(requestId ? { requestId } : {}),
    });
    if (!outcome.valid) {
      options.observe?.('invalid');
      throw new InvalidUserCredentialsError(REFUSED);
    }
    options.observe?.('valid');
    const { principal } = outcome;
    const base = client.defaultScopes.length ? client.defaultScopes : client.scopes;
    const grantable = options.scopePolicy.grantable(client, outcome.validator, principal.groups);
    const identity: Identity = {
      sub: principal.subject,
      clientId: client.id,
      scope: base.filter((s) => grantable.has(s)),
      groups: [...principal.groups],
      attributes: { ...principal.attributes },
    };
    cache.set(cacheKey, identity);
    return identity;
  };

  return {
    async authenticate(clientId, authorization, clientIp, requestId) {
      const client = clients.get(clientId);
      const credentials = parseBasicUser(authorization);
      if (!client || !credentials) {
        options.observe?.('invalid');
        throw new InvalidUserCredentialsError(REFUSED);
      }
      const cacheKey = cache.key(client.id, credentials.username, credentials.password);
      const hit = cache.get(cacheKey);
      if (hit) {
        options.observe?.('cached');
        return hit;
      }
      let pending = inFlight.get(cacheKey);
      if (!pending) {
        pending = login(client, credentials.username, credentials.password, clientIp, cacheKey, requestId).finally(() =>
          inFlight.delete(cacheKey),
        );
        inFlight.set(cacheKey, pending);
      }
      return pending;
    },
  };
}
