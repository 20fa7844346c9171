/**
 * The last step of a grant: the RFC 6749 §5.1 answer for tokens already stored, in the
 * client's access token format (docs/token-formats.md) — the opaque token itself, or a JWT
 * (RFC 9068) that names its stored record — and, on a password grant whose scope includes
 * `openid`, an ID token (OIDC Core §3.1.3.3, id-token.ts).
 */
import type { ClientConfig, GatewayConfig } from '../config/types.js';
import type { JwtAccessTokens } from '../tokens/jwt-access.js';
import { parseToken } from '../tokens/token-value.js';
import type { TokenToIssue } from '../tokens/types.js';
import type { IdTokens } from './id-token.js';
import { tokenResponse } from './issue.js';
import type { TokenResponse } from './grants/types.js';

export interface PresentOptions {
  /** `oauth.accessTokenFormat`: for clients whose own accessTokenFormat is ''. */
  readonly defaultFormat: GatewayConfig['oauth']['accessTokenFormat'];
  /** Present when some client has JWT access tokens. */
  readonly jwt?: JwtAccessTokens;
  /** Present when some client lists the openid scope. */
  readonly idTokens?: IdTokens;
}

export interface Presented {
  readonly access: TokenToIssue;
  readonly refresh: TokenToIssue | undefined;
  readonly requested: readonly string[] | undefined;
  /** For tokens issued earlier (a grace replay): now, so expires_in is what is left. */
  readonly now?: number;
  /** The password grant's check time: asks for an ID token when the scope has openid. */
  readonly authTime?: number;
}

export type Presenter = (client: ClientConfig, tokens: Presented) => Promise<TokenResponse>;

export function createPresenter(options: PresentOptions): Presenter {
  return async (client, { access, refresh, requested, now, authTime }) => {
    const response = tokenResponse(access, refresh, requested, now);
    const format = client.accessTokenFormat || options.defaultFormat;
    let accessToken = response.access_token;
    if (format === 'jwt' && options.jwt) {
      const ref = parseToken(access.token);
      if (!ref) throw new Error('an access token to present must come from newToken()');
      accessToken = await options.jwt.sign(access.record, ref, client);
    }
    const openid = authTime !== undefined && options.idTokens && access.record.scope.includes('openid');
    const idToken = openid ? await options.idTokens!.sign(access.record, client, authTime) : undefined;
    return { ...response, access_token: accessToken, ...(idToken ? { id_token: idToken } : {}) };
  };
}

/** The presenter of opaque tokens only (no key set): what grants use unless given another. */
export const presentOpaque: Presenter = async (_client, { access, refresh, requested, now }) =>
  tokenResponse(access, refresh, requested, now);
