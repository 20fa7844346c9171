/**
 * From the incumbent's RFC 7662 §2.2 answer to the identity the resource path works with (the
 * same fields as one of the gateway's own token records, so route scopes, groups and identity
 * headers apply unchanged). The mapping, docs/migrating-from-pingfederate.md "Claim mapping":
 *
 *   sub         the claim `claims.subject` names (default `sub`; PingFederate sends `sub` and
 *               `username` only when the access token manager maps them); required: an active
 *               answer without it is refused — it is also how a refresh token is told apart,
 *               for which PingFederate answers `{"active":true}` and nothing else
 *   client_id   `client_id` (RFC 7662 §2.2); '' when absent
 *   scope       `scope`, space-separated (RFC 7662 §2.2), or a list of strings; none when absent
 *   groups      the claim `claims.groups` names (default `groups`): a list of strings, or one string
 *   attributes  `claims.attributes`: attribute name -> claim name; a string, number or boolean
 *               claim becomes the attribute's text, anything else is left out
 *   exp, iat    `exp` and `iat` (RFC 7662 §2.2); without `exp`, `fallbackTtlSeconds` from now
 *
 * An answer whose `token_type` is present and not `Bearer` (case-insensitive) is refused: it
 * is not an access token (this gateway answers `N_A` for its refresh tokens).
 */
import type { GrantRecord } from '../tokens/types.js';

export interface ClaimMapping {
  /** Claim holding the subject (`incumbent.introspection.claims.subject`). */
  readonly subject: string;
  /** Claim holding the groups (`incumbent.introspection.claims.groups`). */
  readonly groups: string;
  /** Attribute name -> claim name (`incumbent.introspection.claims.attributes`). */
  readonly attributes: Readonly<Record<string, string>>;
}

/** The `validator` of a record mapped from the incumbent (it never reaches a validator). */
export const INCUMBENT_SOURCE = 'incumbent';

export type MappedAnswer =
  | { readonly kind: 'active'; readonly record: GrantRecord }
  | { readonly kind: 'inactive' }
  /** Active, but not usable as an access token here; `why` names the reason (no values). */
  | { readonly kind: 'unmapped'; readonly why: string }
  /** Not an RFC 7662 answer at all: the incumbent (or what answers in its place) is broken. */
  | { readonly kind: 'malformed'; readonly why: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
const strings = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];

function scopeOf(v: unknown): string[] {
  const list = typeof v === 'string' ? v.split(' ') : strings(v);
  return [...new Set(list.filter((s) => s !== ''))];
}

/** Maps a parsed JSON answer; `nowSeconds` is the current time in seconds since the epoch. */
export function mapIntrospection(body: unknown, mapping: ClaimMapping, nowSeconds: number, fallbackTtlSeconds: number): MappedAnswer {
  if (!isObject(body) || typeof body['active'] !== 'boolean')
    return { kind: 'malformed', why: 'the answer is not a JSON object with a boolean "active" (RFC 7662 §2.2)' };
  if (!body['active']) return { kind: 'inactive' };
  const tokenType = body['token_type'];
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer'))
    return { kind: 'unmapped', why: 'token_type is not Bearer' };
  const sub = body[mapping.subject];
  if (typeof sub !== 'string' || sub === '') return { kind: 'unmapped', why: `no "${mapping.subject}" claim (claims.subject)` };
  const exp =
    typeof body['exp'] === 'number' && Number.isFinite(body['exp'])
      ? Math.floor(body['exp'])
      : nowSeconds + Math.max(1, fallbackTtlSeconds);
  if (exp <= nowSeconds) return { kind: 'inactive' };
  const attributes: Record<string, string> = {};
  for (const [name, claim] of Object.entries(mapping.attributes)) {
    const value = text(body[claim]);
    if (value !== undefined) attributes[name] = value;
  }
  const record: GrantRecord = {
    sub,
    clientId: text(body['client_id']) ?? '',
    scope: scopeOf(body['scope']),
    groups: strings(body[mapping.groups]),
    attributes,
    validator: INCUMBENT_SOURCE,
    familyId: '',
    iat: typeof body['iat'] === 'number' && Number.isFinite(body['iat']) ? Math.floor(body['iat']) : nowSeconds,
    exp,
  };
  return { kind: 'active', record };
}
