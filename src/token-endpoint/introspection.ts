/**
 * Token introspection (RFC 7662), as named steps in data-path order:
 *
 *   1. method, form  POST, strict form, body limit (readOAuthForm)
 *   2. client        a confidential client, authenticated (§2.1 "the endpoint MUST also require
 *                    some form of authorization"); public clients and bad credentials →
 *                    `invalid_client` (401 with a Basic challenge, or 400 to a client that
 *                    authenticated in the body; RFC 6749 §5.2)
 *   3. token         `token` is required; `token_type_hint` is ignored (§2.1 allows it)
 *   4. lookup        the store finds an access or refresh token in one round trip; a JWT
 *                    access token is verified, then its stored record read (describe.ts)
 *   5. visibility    an access token is active to the client it was issued to, and to every
 *                    client with `introspectAnyToken` (resource servers); a refresh token only
 *                    to its own client, and only while it is the family's current one.
 *                    Anything else — unknown, expired, revoked, rotated, not visible — is
 *                    inactive (§2.2: "the authorization server MAY respond differently to
 *                    different protected resources making the same request")
 *   6. respond       §2.2 JSON: exactly `{"active":false}`, or `active`, `scope`, `client_id`,
 *                    `sub`, `exp`, `iat`, `iss`, `token_type`, and the extension `groups`
 *
 * `token_type` is, as §2.2 defines it, the type of §5.1 of RFC 6749: `Bearer` for access
 * tokens. A refresh token is not an access token of any type, so it answers `N_A` — the value
 * RFC 8693 §2.2.1 registered for "not an access token" — and a resource server that checks
 * `token_type` cannot mistake a refresh token for an access token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../http/context.js';
import { sendJson } from '../http/send.js';
import { InvalidClientError, InvalidRequestError } from '../oauth/errors.js';
import { formatScope } from '../oauth/scope.js';
import type { TokenInfo, TokenStore } from '../tokens/types.js';
import type { ClientConfig } from '../config/types.js';
import { authenticateClient } from './client-auth.js';
import type { ClientRegistry } from './clients.js';
import { readOAuthForm } from './oauth-form.js';
import { NO_AUDIT, type Audit } from '../observability/audit.js';
import type { JwtAccessTokens } from '../tokens/jwt-access.js';
import { describePresented } from './describe.js';
import { systemClock, type Clock } from '../clock.js';

export interface IntrospectionEndpointOptions {
  readonly clients: ClientRegistry;
  readonly store: TokenStore;
  readonly bodyLimit: number;
  /** `oauth.issuer`, answered as `iss`. */
  readonly issuer: string;
  /** Receives an `introspection` event when a client introspects another client's token, and `client_auth` events. */
  readonly audit?: Audit;
  /** JWT access tokens (docs/token-formats.md): introspected by the stored record they name. */
  readonly jwt?: JwtAccessTokens;
  /** The time `exp` is compared with (src/app.ts `clock`); default the system clock. */
  readonly clock?: Clock;
}

/** RFC 7662 §2.2 answer for an active token. */
export interface ActiveIntrospection {
  readonly active: true;
  readonly scope: string;
  readonly client_id: string;
  readonly sub: string;
  readonly exp: number;
  readonly iat: number;
  readonly iss: string;
  readonly token_type: 'Bearer' | 'N_A';
  readonly groups: readonly string[];
}

export const INACTIVE = Object.freeze({ active: false as const });

export function introspectionEndpoint(options: IntrospectionEndpointOptions) {
  const { clients, store, bodyLimit, issuer, audit = NO_AUDIT, jwt, clock = systemClock } = options;

  return async function handleIntrospection(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const params = await readOAuthForm(req, bodyLimit);
    const client = await authenticateClient(req.headers, params, clients, ctx.clientIp, { audit, requestId: ctx.id });
    if (client.public) throw new InvalidClientError('a public client may not introspect tokens', req.headers.authorization !== undefined);
    ctx.clientId = client.id;

    const token = params.get('token');
    if (token === undefined) throw new InvalidRequestError('missing parameter: token');

    const found = (await describePresented(token, store, jwt))?.info ?? null;
    const answer = found && visible(found, client, clock.now()) ? active(found, issuer) : INACTIVE;
    if (found && found.record.clientId !== client.id) {
      // A resource server (introspectAnyToken) reading a user's token, or a client probing another's.
      audit.emit({
        event: 'introspection',
        outcome: answer.active ? 'success' : 'refused',
        client_id: client.id,
        client_ip: ctx.clientIp,
        request_id: ctx.id,
        sub: found.record.sub,
        token_client_id: found.record.clientId,
        token_type: found.type === 'access' ? 'access_token' : 'refresh_token',
        active: answer.active,
      });
    }
    sendJson(res, 200, answer);
  };
}

/** Step 5: whether `client` may see `found` as active. */
function visible(found: TokenInfo, client: ClientConfig, now: number): boolean {
  const own = found.record.clientId === client.id;
  if (found.record.exp * 1000 <= now) return false;
  if (found.type === 'refresh') return own && found.current;
  return own || client.introspectAnyToken;
}

function active(found: TokenInfo, issuer: string): ActiveIntrospection {
  const { record } = found;
  return {
    active: true,
    scope: formatScope(record.scope),
    client_id: record.clientId,
    sub: record.sub,
    exp: record.exp,
    iat: record.iat,
    iss: issuer,
    token_type: found.type === 'access' ? 'Bearer' : 'N_A',
    groups: [...record.groups],
  };
}
