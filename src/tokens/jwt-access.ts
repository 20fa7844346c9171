/**
 * JWT access tokens (RFC 9068): signing at issue, local verification on the resource path.
 *
 * A JWT access token stands for an ordinary stored access record (the store keeps it as for an
 * opaque token, under the hash of a random value that is never handed out). The JWT names that
 * record by `sid` (the family id: OIDC's session identifier) and `jti` (the record's hash), so
 * introspection, revocation and a replica whose revocation feed is not live can ask the store,
 * and a revocation event (`t:<hash>`, `f:<familyId>`) names exactly the JWTs it ends.
 *
 * Claims (docs/token-formats.md, "Claims"): header `typ: at+jwt`, `alg` ES256 or RS256, `kid`;
 * `iss` (oauth.issuer), `sub`, `aud` (clients[].audience, else oauth.audience, else the
 * issuer), `client_id`, `scope` (space-separated, RFC 9068 §2.2.3), `iat` = `nbf`, `exp`,
 * `jti`, `sid`, `groups` (RFC 9068 §2.2.3.1), and the claims `oauth.jwtClaims` maps from
 * principal attributes.
 */
import { decodeJwt, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Clock } from '../clock.js';
import type { KeySet, SigningAlgorithm } from './key-set.js';
import { SIGNING_ALGORITHMS } from './key-set.js';
import type { AccessRef, GrantRecord } from './types.js';

export const ACCESS_TOKEN_TYP = 'at+jwt';

/** Three base64url parts: can only be a JWS compact serialization, never an opaque token. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const FAMILY_ID = /^[A-Za-z0-9_-]{22}$/;
const HASH = /^[A-Za-z0-9_-]{43}$/;

export function looksLikeJwt(token: string): boolean {
  return COMPACT_JWS.test(token);
}

/**
 * Whether a JWT names `issuer` as its `iss`, read WITHOUT verifying it: only to tell this
 * gateway's tokens from an incumbent's (resource/token-source.ts). A forgery that claims our
 * issuer is then refused by our own verification, never sent to the incumbent.
 */
export function claimsIssuer(token: string, issuer: string): boolean {
  if (!looksLikeJwt(token)) return false;
  try {
    return decodeJwt(token).iss === issuer;
  } catch {
    return false;
  }
}

/** The clock difference between replicas the gateway tolerates, seconds (also tokens/jwt-revocations.ts). */
export const CLOCK_SKEW_SECONDS = 5;

export interface JwtAccessOptions {
  readonly keys: KeySet;
  /** `oauth.issuer`. */
  readonly issuer: string;
  /** `oauth.audience`, or the issuer when empty: what the resource path requires in `aud`. */
  readonly audience: string;
  /** `oauth.jwtClaims`: claim name → `attributes.NAME`. */
  readonly claims: Readonly<Record<string, string>>;
  /** The time `exp` and `nbf` are checked against (src/app.ts `clock`); default the system clock. */
  readonly clock?: Clock;
}

/** What a client contributes to its tokens. */
export interface JwtClient {
  readonly audience: readonly string[];
  readonly signingAlgorithm: SigningAlgorithm;
}

export interface VerifiedAccess {
  /** The identity the JWT carries; `validator` is '' (it is not a claim). */
  readonly record: GrantRecord;
  /** The stored record it stands for. */
  readonly ref: AccessRef;
}

/** Verified JWTs remembered for the resource path (see {@link JwtAccessTokens.verify}); the oldest go first. */
const VERIFIED_ENTRIES = 4096;

export class JwtAccessTokens {
  /** claim → attribute name. */
  readonly #claims: readonly (readonly [claim: string, attribute: string])[];
  /**
   * The resource path's verified tokens, by the token's exact text: a signature and the claims
   * checked once are the same answer for the same bytes under the same keys, issuer and
   * audience, all fixed at startup. `exp` is checked again on every use; revocations are not
   * this class's (access-lookup.ts checks them on every request).
   */
  readonly #verified = new Map<string, VerifiedAccess>();

  constructor(private readonly options: JwtAccessOptions) {
    this.#claims = Object.entries(options.claims).map(([claim, field]) => [claim, field.replace(/^attributes\./, '')] as const);
  }

  /** The JWT for the stored `record`, whose store reference is `ref`. */
  async sign(record: GrantRecord, ref: AccessRef, client: JwtClient): Promise<string> {
    const key = this.options.keys.current(client.signingAlgorithm);
    if (!key) throw new Error(`no ${client.signingAlgorithm} signing key`);
    const extra: Record<string, string> = {};
    for (const [claim, attribute] of this.#claims) {
      const value = record.attributes[attribute];
      if (value !== undefined) extra[claim] = value;
    }
    const audience = client.audience.length > 0 ? [...client.audience] : this.options.audience;
    return new SignJWT({
      ...extra,
      client_id: record.clientId,
      scope: record.scope.join(' '),
      groups: [...record.groups],
      sid: ref.familyId,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.options.issuer)
      .setSubject(record.sub)
      .setAudience(audience)
      .setIssuedAt(record.iat)
      .setNotBefore(record.iat)
      .setExpirationTime(record.exp)
      .setJti(ref.hash)
      .sign(key.privateKey);
  }

  /**
   * The identity of a JWT this gateway signed, or null for anything else: a bad signature, an
   * unknown `kid`, another `typ` or issuer, `exp` passed, `nbf` more than the tolerated clock
   * difference ahead, or (with `checkAudience`,
   * the resource path) an `aud` without oauth.audience. Introspection and revocation do not
   * check the audience: every access token of this gateway is theirs to answer for. The
   * resource path's answers are remembered (at most 4096 tokens) and only `exp` is checked again.
   */
  async verify(token: string, checkAudience: boolean): Promise<VerifiedAccess | null> {
    if (!looksLikeJwt(token)) return null;
    if (checkAudience && this.#verified.has(token)) return this.peek(token) ?? null;
    const verified = await this.#verify(token, checkAudience);
    if (verified && checkAudience) {
      if (this.#verified.size >= VERIFIED_ENTRIES) this.#verified.delete(this.#verified.keys().next().value as string);
      this.#verified.set(token, verified);
    }
    return verified;
  }

  /**
   * The resource path's remembered answer for `token` without a promise (src/app.ts, the
   * synchronous probe): what {@link verify} with `checkAudience` answers when it remembers the
   * token, undefined when it does not (or the token has expired: then it is forgotten).
   */
  peek(token: string): VerifiedAccess | undefined {
    const known = this.#verified.get(token);
    if (!known) return undefined;
    if (known.record.exp * 1000 > this.#now()) return known;
    this.#verified.delete(token);
    return undefined;
  }

  #now(): number {
    return this.options.clock ? this.options.clock.now() : Date.now();
  }

  async #verify(token: string, checkAudience: boolean): Promise<VerifiedAccess | null> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.options.keys.getKey, {
        issuer: this.options.issuer,
        ...(checkAudience ? { audience: this.options.audience } : {}),
        typ: ACCESS_TOKEN_TYP,
        algorithms: [...SIGNING_ALGORITHMS],
        requiredClaims: ['sub', 'exp', 'iat', 'jti', 'client_id', 'sid'],
        // A replica whose clock lags the issuer's must not refuse a new token for its `nbf`
        // (`iat`): the clock difference replicas tolerate (docs/token-formats.md). `exp` is
        // checked strictly below.
        clockTolerance: CLOCK_SKEW_SECONDS,
        ...(this.options.clock ? { currentDate: new Date(this.options.clock.now()) } : {}),
      }));
    } catch {
      return null;
    }
    const { sub, jti, sid, client_id: clientId, scope, groups, exp, iat } = payload;
    if (typeof sub !== 'string' || typeof jti !== 'string' || !HASH.test(jti) || typeof sid !== 'string' || !FAMILY_ID.test(sid))
      return null;
    if (typeof clientId !== 'string' || typeof exp !== 'number' || typeof iat !== 'number') return null;
    if (exp * 1000 <= this.#now()) return null;
    const attributes: Record<string, string> = {};
    for (const [claim, attribute] of this.#claims) {
      const value = payload[claim];
      if (typeof value === 'string') attributes[attribute] = value;
    }
    const record: GrantRecord = {
      sub,
      clientId,
      scope: typeof scope === 'string' && scope ? scope.split(' ') : [],
      groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [],
      attributes,
      validator: '',
      familyId: sid,
      iat,
      exp,
    };
    return { record, ref: { familyId: sid, hash: jti } };
  }
}
