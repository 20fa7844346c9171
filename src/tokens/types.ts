/**
 * The token store, DESIGN §5. It knows nothing of passwords or HTTP: it keeps records under a
 * SHA-256 of each token (see `token-value.ts`), with a TTL equal to the token's lifetime.
 *
 * Every token belongs to a *family*: the password grant starts one, each refresh adds to it.
 * Keys of one family share a Redis Cluster hash tag, so family operations are atomic.
 *
 * A store whose backend is unreachable THROWS {@link StoreUnavailableError}; callers turn that
 * into 503 and never let a request through.
 */

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
  /** The presented refresh token was already rotated: the whole family is now revoked. */
  | 'reused'
  /** Unknown, expired or revoked. */
  | 'invalid';

export interface TokenStore {
  /** Stores the first tokens of a new family (password grant). */
  createFamily(family: NewFamily): Promise<void>;
  /** The record of a live access token, or null. */
  getAccess(token: string): Promise<GrantRecord | null>;
  /** The record of a live, current (not rotated) refresh token, or null. */
  getRefresh(token: string): Promise<RefreshRecord | null>;
  /**
   * Atomically replaces `presented` with `next.refresh` (when rotating) and adds
   * `next.access`. Of concurrent calls with one refresh token exactly one returns `rotated`.
   * When `next.refresh` is absent (rotation off) the presented token stays current.
   */
  rotate(presented: string, next: { access: TokenToIssue; refresh?: TokenToIssue<RefreshRecord> }): Promise<RotateResult>;
  /**
   * Reuse detection for a presented refresh token that `getRefresh` did not return: when it is
   * a refresh token of this store that was already rotated, revokes its whole family
   * (RFC 9700 §4.14.2) and returns true; returns false for unknown or expired tokens.
   */
  revokeIfRotated(presented: string): Promise<boolean>;
  /** Revokes every token of a family. Unknown families are ignored. */
  revokeFamily(familyId: string): Promise<void>;
  /** Revokes every family of a subject; returns how many families were revoked. */
  revokeSubject(sub: string): Promise<number>;
  /** Resolves when the backend answers; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The store's backend cannot be reached or did not answer in time. */
export class StoreUnavailableError extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`token store unavailable: ${reason}`, options);
    this.name = 'StoreUnavailableError';
  }
}
