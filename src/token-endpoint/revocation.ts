/**
 * Token revocation (RFC 7009), as named steps in data-path order:
 *
 *   1. method, form  POST, strict form, body limit (readOAuthForm, shared with the token endpoint)
 *   2. client        authenticated as at the token endpoint; a public client by its client_id
 *                    (RFC 7009 §5)
 *   3. token         `token` is required; `token_type_hint` is ignored (§2.1 allows it: one
 *                    store lookup finds either type)
 *   4. ownership     a token issued to another client is not touched (§2.1: "the authorization
 *                    server ... verifies whether the token was issued to the client making the
 *                    revocation request"), yet the answer is the same 200 as for an unknown
 *                    token, so a client cannot probe other clients' tokens
 *   5. revoke        a refresh token (current or already rotated) → its whole family, every
 *                    access and refresh token of the grant (docs/architecture.md); an access token → that
 *                    token only (§2.1 "MAY revoke the respective refresh token as well": a
 *                    client logs a user out by revoking the refresh token; revoking one
 *                    access token, e.g. one that leaked, need not end the user's session).
 *                    A JWT access token is revoked by the stored record it names
 *                    (describe.ts); the revocation reaches every replica's memory over the
 *                    revocation feed (src/tokens/jwt-revocations.ts)
 *   6. respond       200 with `{}` as JSON, no-store (§2.2: "The content of the response body
 *                    is ignored by the client"; an empty body breaks clients that insist on
 *                    JSON, such as simple-oauth2 — docs/client-libraries.md)
 *
 * Every revocation reaches the caches of all replicas (TokenStore.watchRevocations). Errors
 * are RFC 6749 §5.2 bodies (§2.2.1); a store outage is 503 with Retry-After, and the client
 * must assume the token is still valid.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../http/context.js';
import { sendJson } from '../http/send.js';
import type { Logger } from '../observability/logger.js';
import { NO_AUDIT, type Audit } from '../observability/audit.js';
import { InvalidRequestError } from '../oauth/errors.js';
import type { TokenStore } from '../tokens/types.js';
import { authenticateClient } from './client-auth.js';
import type { ClientRegistry } from './clients.js';
import { readOAuthForm } from './oauth-form.js';
import type { JwtAccessTokens } from '../tokens/jwt-access.js';
import { describePresented } from './describe.js';

export interface RevocationEndpointOptions {
  readonly clients: ClientRegistry;
  readonly store: TokenStore;
  readonly bodyLimit: number;
  readonly logger: Logger;
  /** Receives `revocation` and `client_auth` events (docs/operations.md, "Audit events"). */
  readonly audit?: Audit;
  /** JWT access tokens (docs/token-formats.md): revoked by the stored record they name. */
  readonly jwt?: JwtAccessTokens;
}

export function revocationEndpoint(options: RevocationEndpointOptions) {
  const { clients, store, bodyLimit, logger, audit = NO_AUDIT, jwt } = options;

  return async function handleRevocation(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const params = await readOAuthForm(req, bodyLimit);
    const client = await authenticateClient(req.headers, params, clients, ctx.clientIp, { audit, requestId: ctx.id });
    ctx.clientId = client.id;

    const token = params.get('token');
    if (token === undefined) throw new InvalidRequestError('missing parameter: token');

    const described = await describePresented(token, store, jwt);
    const found = described?.info ?? null;
    const who = { client_id: client.id, client_ip: ctx.clientIp, request_id: ctx.id } as const;
    if (found && found.record.clientId !== client.id) {
      audit.emit({
        event: 'revocation',
        outcome: 'refused',
        reason: 'foreign_token',
        ...who,
        revoked: 'none',
        token_client_id: found.record.clientId,
        token_type: tokenType(found.type),
      });
      logger.warn(
        { event: 'revocation_foreign_token', reqId: ctx.id, clientId: client.id },
        'a client asked to revoke a token of another client; nothing revoked',
      );
    } else if (found) {
      ctx.subject = found.record.sub;
      const revoked =
        found.type === 'refresh'
          ? await store.revokeFamily(found.record.familyId)
          : described?.ref
            ? await store.revokeAccessByRef(described.ref)
            : await store.revokeAccess(token);
      if (revoked) {
        const what = found.type === 'refresh' ? 'family' : 'access_token';
        audit.emit({
          event: 'revocation',
          outcome: 'success',
          ...who,
          sub: found.record.sub,
          revoked: what,
          token_type: tokenType(found.type),
        });
        logger.info({ event: 'token_revoked', reqId: ctx.id, revoked: what, clientId: client.id, sub: found.record.sub }, 'token revoked');
      }
    }

    sendJson(res, 200, {});
  };
}

function tokenType(type: 'access' | 'refresh'): 'access_token' | 'refresh_token' {
  return type === 'access' ? 'access_token' : 'refresh_token';
}
