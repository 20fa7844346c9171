/**
 * Which source answers for a bearer token on the resource path (step 3 of handler.ts), and
 * the count of each in `ropc_resource_token_source_total{source}`:
 *
 * - `ours`: a token of a format this gateway issues — today the opaque format of
 *   tokens/token-value.ts (exactly 65 base64url characters, `parseToken`). It is looked up in
 *   the gateway's own store and nowhere else: one of ours that is unknown, expired or revoked
 *   is refused (401) and NEVER sent to the incumbent, and its lookups never wait on it.
 * - `incumbent`: any other token, when `incumbent.introspection.enabled` — asked of the
 *   incumbent's introspection endpoint (incumbent-introspection.ts). Without the incumbent
 *   source, such a token is looked up like one of ours (and so refused).
 * - With `incumbent.introspection.sameFormat` (the incumbent is itself a ropc-gateway, whose
 *   tokens have this format too), a token of our format that the store does not know is asked
 *   of the incumbent as well. Two deployments' tokens of one format cannot be told apart, so
 *   then a revoked or expired token of ours reaches the incumbent (which answers inactive):
 *   the documented price of that mode. A live one of ours still never waits on it.
 *
 * Every token format the gateway issues must be recognised by `isOurs`, or its tokens would be
 * sent to the incumbent. Counted: tokens that resolved to a live record (`ours` by its `exp`),
 * so a zero rate of `incumbent` says the old system's tokens are no longer presented.
 */
import type { GrantRecord } from '../tokens/types.js';
import type { TokenLookup } from './handler.js';

export type TokenSource = 'ours' | 'incumbent';
export const TOKEN_SOURCES: readonly TokenSource[] = ['ours', 'incumbent'];

export interface TokenSourcesOptions {
  /** The gateway's own lookup (store, or the local cache). */
  readonly ours: TokenLookup;
  /** Whether a token has a format the gateway issues. */
  readonly isOurs: (token: string) => boolean;
  /** The incumbent source; absent when `incumbent.introspection.enabled` is false. */
  readonly incumbent?: { lookup(token: string): Promise<GrantRecord | null> } | undefined;
  /** `incumbent.introspection.sameFormat`: also ask about tokens of our format the store does not know. */
  readonly sameFormat?: boolean;
  readonly count: (source: TokenSource) => void;
  /** The clock a record's `exp` is compared with, ms (src/app.ts `clock`); default the system clock. */
  readonly now?: () => number;
}

export function withTokenSources(options: TokenSourcesOptions): TokenLookup {
  const { ours, isOurs, incumbent, count, sameFormat = false, now = Date.now } = options;
  const askIncumbent = async (token: string): Promise<GrantRecord | null> => {
    const record = await (incumbent as NonNullable<typeof incumbent>).lookup(token);
    if (record) count('incumbent');
    return record;
  };
  return async function lookup(token: string): Promise<GrantRecord | null> {
    if (incumbent && !isOurs(token)) return askIncumbent(token);
    // A store outage throws here (503): it is never taken for "not ours".
    const record = await ours(token);
    if (record && record.exp > now() / 1000) {
      count('ours');
      return record;
    }
    return incumbent && sameFormat ? askIncumbent(token) : record;
  };
}
