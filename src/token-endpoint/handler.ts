/**
 * The token endpoint (RFC 6749 §3.2), as named steps in data-path order:
 *
 *   1. method       POST only (405 otherwise)
 *   2. read form    strict application/x-www-form-urlencoded, bounded (read-form.ts)
 *   3. client       authenticate by exactly one method (client-auth.ts)
 *   4. grant type   known (unsupported_grant_type) and allowed for the client (unauthorized_client)
 *   5. grant        the grant handler (grants/password.ts, grants/refresh-token.ts)
 *   6. respond      RFC 6749 §5.1 JSON with no-store headers
 *
 * Errors are thrown as OAuthErrors and written by error-response.ts only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidRequestError, UnauthorizedClientError, UnsupportedGrantTypeError } from '../oauth/errors.js';
import { readOAuthForm } from './oauth-form.js';
import { sendJson } from '../http/send.js';
import type { RequestContext } from '../http/context.js';
import { authenticateClient } from './client-auth.js';
import type { ClientRegistry } from './clients.js';
import type { GrantHandler } from './grants/types.js';
import type { Audit } from '../observability/audit.js';
import { inSpan } from '../observability/tracing.js';

export interface TokenEndpointOptions {
  readonly clients: ClientRegistry;
  readonly grants: readonly GrantHandler[];
  readonly bodyLimit: number;
  /** Receives a `client_auth` event for each refused client authentication. */
  readonly audit?: Audit;
}

export function tokenEndpoint(options: TokenEndpointOptions) {
  const grants = new Map(options.grants.map((g) => [g.grantType, g]));

  return async function handleToken(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const params = await readOAuthForm(req, options.bodyLimit);
    const client = await inSpan('client_auth', {}, () =>
      authenticateClient(req.headers, params, options.clients, ctx.clientIp, options.audit && { audit: options.audit, requestId: ctx.id }),
    );
    ctx.clientId = client.id;

    const grantType = params.get('grant_type');
    if (grantType === undefined) throw new InvalidRequestError('missing parameter: grant_type');
    const grant = grants.get(grantType);
    // Logged and counted as sent only when it names a grant: any other value (it may hold
    // anything, a secret included) is `other`.
    ctx.grantType = grant ? grantType : 'other';
    if (!grant) throw new UnsupportedGrantTypeError(`grant_type "${grantType.slice(0, 40)}" is not supported`);
    if (!(client.grantTypes as readonly string[]).includes(grantType))
      throw new UnauthorizedClientError(`the client may not use the ${grantType} grant`);

    const outcome = await grant.handle({ params, client, clientIp: ctx.clientIp, requestId: ctx.id });
    ctx.subject = outcome.subject;
    sendJson(res, 200, outcome.response);
  };
}
