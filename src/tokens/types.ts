/**
 * The token store, docs/architecture.md. It knows nothing of passwords or HTTP: it keeps records under a
 * SHA-256 of each token (see `token-value.ts`), with a TTL equal to the token's lifetime.
 *
 * Every token belongs to a *family*: the password grant starts one, each refresh adds to it.
 * Keys of one family share a Redis Cluster hash tag, so family operations are atomic.
 *
 * A store whose backend is unreachable THROWS {@link StoreUnavailableError}; callers turn that
 * into 503 and never let a request through.
 */
import { OutageError } from '../outage.js';

/** What a token stands for; the same for the access and the refresh token of one issue. */
export interface GrantRecord {
  readonly sub: string;
  readonly clientId: string;
  readonly scope: readonly string[];
  readonly groups: readonly string[];
  readonly attributes: Readonly<Record<string, string>>;
  /** The validator that authenticated the user, for re-checks on refresh. */
  readonly validator: string;
  readonly familyId: string;
  /** Issue time and expiry of this token, seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
}

/** A refresh token's record: a grant plus the family's absolute expiry. */
export interface RefreshRecord extends GrantRecord {
  /** The family's absolute end (password grant time + `oauth.refreshTokenTtl`). */
  readonly familyExp: number;
}

export interface TokenToIssue<R extends GrantRecord = GrantRecord> {
  readonly token: string;
  readonly record: R;
}

export interface NewFamily {
  readonly familyId: string;
  readonly sub: string;
  readonly clientId: string;
  /** Absolute end of the family, seconds since the epoch. */
  readonly exp: number;
  readonly access: TokenToIssue;
  readonly refresh?: TokenToIssue<RefreshRecord>;
}

export type RotateResult =
  /** The presented refresh token was current; the new tokens are stored. */
  | 'rotated'
  /**
   * The presented refresh token is the one rotated last, within the reuse grace window:
   * nothing is stored or revoked; {@link TokenStore.settleRotated} returns the successor.
   */
  | 'superseded'
  /** The presented refresh token was already rotated: the whole family is now revoked. */
  | 'reused'
  /** Unknown, expired or revoked. */
  | 'invalid';

/** The tokens one rotation issued, as a replay within the grace window returns them. */
export interface Successor {
  readonly access: TokenToIssue;
  readonly refresh?: TokenToIssue<RefreshRecord>;
}

/** Options of {@link TokenStore.rotate}. */
export interface RotateOptions {
  /**
   * `oauth.refreshReuseGraceSeconds`: for this long after the rotation, the presented token
   * (the one rotated last) may be presented again by its client and gets the same successor
   * (docs/security.md "Refresh reuse grace"). 0 (the default): strict RFC 9700 §4.14.2.
   */
  readonly graceSeconds?: number;
}

/** What {@link TokenStore.settleRotated} decided for a rotated refresh token. */
export type RotatedOutcome =
  /** Within the grace window, the just-rotated token of the same client: the successor again. */
  | { readonly kind: 'replay'; readonly successor: Successor }
  /** Any other reuse: the whole family is now revoked; the presented token's record, for the log. */
  | { readonly kind: 'reused'; readonly record: RefreshRecord };

/**
 * What a presented token is, as far as the store knows: a live access token, or a refresh
 * token of a family that has not ended — the current one, or a rotated one (kept until the
 * family ends so a reuse can be detected). Used by revocation and introspection.
 */
export type TokenInfo =
  | { readonly type: 'access'; readonly record: GrantRecord }
  | { readonly type: 'refresh'; readonly record: RefreshRecord; readonly current: boolean };

/**
 * A revocation, as local caches must learn it (docs/architecture.md): a whole family, one access token
 * (by its hash), or `reset` — revocations may have been missed (the feed was disconnected),
 * so forget everything.
 */
export type RevocationEvent =
  | { readonly kind: 'family'; readonly familyId: string }
  | { readonly kind: 'token'; readonly hash: string }
  | { readonly kind: 'reset' };

/** A subscription to revocations, from {@link TokenStore.watchRevocations}. */
export interface RevocationWatch {
  /**
   * True while every revocation is delivered: always for a one-process store; for Redis while
   * the subscription is connected and answers. A cache must not serve entries while false.
   */
  readonly live: boolean;
  close(): Promise<void>;
}

/**
 * An access token named by its family and hash instead of its value: what a JWT access token
 * carries (`sid` and `jti`, src/tokens/jwt-access.ts) to find the record stored for it. The
 * hash cannot be turned back into a token, so it is no credential itself.
 */
export interface AccessRef {
  readonly familyId: string;
  readonly hash: string;
}

export interface TokenStore {
  /** Stores the first tokens of a new family (password grant). */
  createFamily(family: NewFamily): Promise<void>;
  /** The record of a live access token, or null. */
  getAccess(token: string): Promise<GrantRecord | null>;
  /** {@link getAccess} by reference (a JWT access token's `sid` and `jti`). */
  getAccessByRef(ref: AccessRef): Promise<GrantRecord | null>;
  /** The record of a live, current (not rotated) refresh token, or null. */
  getRefresh(token: string): Promise<RefreshRecord | null>;
  /**
   * Atomically replaces `presented` with `next.refresh` (when rotating) and adds
   * `next.access`. Of concurrent calls with one refresh token exactly one returns `rotated`.
   * When `next.refresh` is absent (rotation off) the presented token stays current.
   */
  rotate(presented: string, next: Successor, options?: RotateOptions): Promise<RotateResult>;
  /**
   * Reuse detection for a presented refresh token that `getRefresh` did not return: when it is
   * a refresh token of this store that was already rotated, revokes its whole family
   * (RFC 9700 §4.14.2) and returns the presented token's record (for the security log);
   * returns null for unknown or expired tokens.
   */
  revokeIfRotated(presented: string): Promise<RefreshRecord | null>;
  /**
   * {@link revokeIfRotated} with the reuse grace, in one atomic step: when `presented` is the
   * refresh token rotated last, its rotation stored a successor (`graceSeconds` > 0), the
   * window has not ended and `clientId` is the family's client, returns that successor
   * (decrypted with a key only `presented` yields) and revokes nothing; any other rotated token
   * revokes its family. Null for unknown, expired and current tokens.
   * @param graceSeconds today's `oauth.refreshReuseGraceSeconds`; 0 turns every replay off.
   */
  settleRotated(presented: string, clientId: string, graceSeconds: number): Promise<RotatedOutcome | null>;
  /** Revokes every token of a family; true when it existed. Unknown families are ignored. */
  revokeFamily(familyId: string): Promise<boolean>;
  /** Revokes every family of a subject; returns how many families were revoked. */
  revokeSubject(sub: string): Promise<number>;
  /** What `token` is (see {@link TokenInfo}), or null for unknown, expired and revoked tokens. */
  describeToken(token: string): Promise<TokenInfo | null>;
  /** Revokes one live access token (not its family); true when it was one. */
  revokeAccess(token: string): Promise<boolean>;
  /** {@link revokeAccess} by reference; delivered to watchers as a `token` event with `ref.hash`. */
  revokeAccessByRef(ref: AccessRef): Promise<boolean>;
  /**
   * Calls `listener` for every revocation (family revocations of every kind — explicit, by
   * subject, by refresh-token reuse — and single access tokens). Revocations made through THIS
   * instance are delivered before the revoking call resolves, so the replica that answers a
   * revocation never serves the token again; revocations made by other processes sharing the
   * backend arrive as the backend reports them (Redis pub/sub). Closed by `close()` too.
   */
  watchRevocations(listener: (event: RevocationEvent) => void): RevocationWatch;
  /** Resolves when the backend answers; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The store's backend cannot be reached or did not answer in time. */
export class StoreUnavailableError extends OutageError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`token store unavailable: ${reason}`, options);
    this.name = 'StoreUnavailableError';
  }
}
