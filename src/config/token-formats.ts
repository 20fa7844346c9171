/**
 * What the configuration asks of the signing keys (docs/token-formats.md): whether some client
 * has JWT access tokens, whether some client may get the `openid` scope (ID tokens, UserInfo,
 * OpenID Provider metadata), and which algorithms their tokens are signed with. Read once at
 * startup; the JWKS, its path and the OpenID endpoints follow the configuration the gateway
 * started with (a reload keeps the key set).
 */
import type { ClientConfig, GatewayConfig } from './types.js';

export type SigningAlgorithm = ClientConfig['signingAlgorithm'];

export interface SigningNeeds {
  readonly jwt: boolean;
  readonly openid: boolean;
  /** Algorithms some JWT or openid client signs with, sorted. */
  readonly algorithms: readonly SigningAlgorithm[];
}

export function usesJwt(client: ClientConfig, oauth: Pick<GatewayConfig['oauth'], 'accessTokenFormat'>): boolean {
  return (client.accessTokenFormat || oauth.accessTokenFormat) === 'jwt';
}

export function signingNeeds(config: Pick<GatewayConfig, 'oauth' | 'clients'>): SigningNeeds {
  const jwtClients = config.clients.filter((c) => usesJwt(c, config.oauth));
  const openidClients = config.clients.filter((c) => c.scopes.includes('openid'));
  const algorithms = new Set([...jwtClients, ...openidClients].map((c) => c.signingAlgorithm));
  return { jwt: jwtClients.length > 0, openid: openidClients.length > 0, algorithms: [...algorithms].sort() };
}

/** `oauth.audience`, or the issuer when empty. */
export function ownAudience(oauth: Pick<GatewayConfig['oauth'], 'audience' | 'issuer'>): string {
  return oauth.audience || oauth.issuer;
}
