/**
 * Client authentication at the token endpoint (RFC 6749 §2.3.1, §3.2.1):
 * `client_secret_basic`, `client_secret_post`, and `none` for public clients.
 *
 * Lenient where strictness only breaks clients (docs/security.md, "Client authentication"):
 * Basic credentials sent raw instead of form-encoded are accepted (basic-credentials.ts), and
 * a public client may send `Basic base64(id:)` with an empty password instead of `client_id`.
 * A refusal carries whether to challenge: 401 + `WWW-Authenticate: Basic` when the client used
 * the Authorization header or sent no credentials at all, 400 when it authenticated in the body
 * (RFC 6749 §5.2).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientConfig } from '../config/types.js';
import { InvalidClientError, InvalidRequestError } from '../oauth/errors.js';
import { decodeBasic } from '../http/basic-auth.js';
import type { FormParams } from '../http/read-form.js';
import type { Audit, AuditReason } from '../observability/audit.js';
import { basicReadings, type ClientCredentials } from './basic-credentials.js';
import type { ClientRegistry } from './clients.js';

export interface BasicCredentials {
  /** The base64-decoded `user-pass` (RFC 7617 §2), not yet split or form-decoded. */
  readonly userPass: string;
}

const BAD_CLIENT = 'client authentication failed';
const NO_CLIENT_AUTH = 'no client authentication included';

/** Where a refused client authentication is reported (a `client_auth` audit event). */
export interface ClientAuthAudit {
  readonly audit: Audit;
  readonly requestId: string;
}
/**
 * Parses `Authorization: Basic` into its UTF-8 user-pass (http/basic-auth.ts); splitting and
 * decoding it is basic-credentials.ts's job. Returns undefined when there is no Authorization header.
 * @throws InvalidClientError (with a challenge) for another scheme or a malformed value.
 */
export function parseBasic(headers: IncomingHttpHeaders): BasicCredentials | undefined {
  const value = headers.authorization;
  if (value === undefined) return undefined;
  const decoded = decodeBasic(value);
  if ('malformed' in decoded) {
    throw new InvalidClientError(
      decoded.malformed === 'utf8'
        ? 'Basic credentials are not UTF-8'
        : 'client authentication must use the Basic scheme with base64 credentials',
    );
  }
  if (!decoded.userPass.includes(':')) throw new InvalidClientError('Basic credentials must be client_id:client_secret');
  return { userPass: decoded.userPass };
}

/**
 * Authenticates the client of a token-side request by exactly one method. A failure counts in
 * the failure budget of `clientIp`, and an IP over budget is refused before any hash (clients.ts).
 */
export async function authenticateClient(
  headers: IncomingHttpHeaders,
  params: FormParams,
  clients: ClientRegistry,
  clientIp: string,
  audited?: ClientAuthAudit,
): Promise<ClientConfig> {
  try {
    return await authenticate(headers, params, clients, clientIp);
  } catch (err) {
    if (audited && err instanceof InvalidClientError) {
      const clientId = claimedClientId(headers, params, clients);
      const reason: AuditReason =
        err.description === BAD_CLIENT
          ? 'invalid_credentials'
          : err.description === NO_CLIENT_AUTH
            ? 'missing_credentials'
            : 'malformed_credentials';
      audited.audit.emit({
        event: 'client_auth',
        outcome: 'failure',
        reason,
        client_ip: clientIp,
        request_id: audited.requestId,
        ...(clientId ? { client_id: clientId } : {}),
      });
    }
    throw err;
  }
}

/**
 * The client id a refused request claimed, only when it names a configured client: anything
 * else sent as an id could be a secret typed into the wrong field, and is not reported.
 */
function claimedClientId(headers: IncomingHttpHeaders, params: FormParams, clients: ClientRegistry): string | undefined {
  const ids = [params.get('client_id')];
  try {
    const basic = parseBasic(headers);
    if (basic) ids.push(...basicReadings(basic.userPass, clients.idsWithColon).map((r) => r.id));
  } catch {
    // A malformed header claims no id.
  }
  return ids.find((id): id is string => id !== undefined && clients.get(id) !== undefined);
}

async function authenticate(
  headers: IncomingHttpHeaders,
  params: FormParams,
  clients: ClientRegistry,
  clientIp: string,
): Promise<ClientConfig> {
  const basic = parseBasic(headers);
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (basic && bodySecret !== undefined) {
    throw new InvalidRequestError('the client authenticated with both Basic and client_secret; use one method');
  }
  if (basic) return authenticateBasic(basicCandidates(basic, bodyId, clients), clients, clientIp);
  if (bodyId === undefined) throw new InvalidClientError(NO_CLIENT_AUTH);
  // An empty client_secret is no secret: a public client sending one is using method none.
  if (bodySecret !== undefined && !(bodySecret === '' && clients.get(bodyId)?.public)) {
    return orFail(await clients.authenticate(bodyId, bodySecret, clientIp), false);
  }
  return orFail(await clients.publicClient(bodyId, clientIp), false);
}

/** The readings of the header; a `client_id` also sent in the body must be one of their ids. */
function basicCandidates(basic: BasicCredentials, bodyId: string | undefined, clients: ClientRegistry): ClientCredentials[] {
  const readings = basicReadings(basic.userPass, clients.idsWithColon);
  if (bodyId === undefined) return readings;
  const matching = readings.filter((r) => r.id === bodyId);
  if (!matching.length) throw new InvalidRequestError('client_id does not match the Basic credentials');
  return matching;
}

/**
 * A public client with an empty password is taken as if it had sent `client_id` (method
 * `none`); anything else is one secret verification over all readings — one attempt.
 */
async function authenticateBasic(
  candidates: readonly ClientCredentials[],
  clients: ClientRegistry,
  clientIp: string,
): Promise<ClientConfig> {
  const publicClient = publicByEmptyPassword(candidates, clients);
  if (publicClient) return publicClient;
  return orFail(await clients.authenticateAny(candidates, clientIp), true);
}

function publicByEmptyPassword(candidates: readonly ClientCredentials[], clients: ClientRegistry): ClientConfig | undefined {
  for (const c of candidates) {
    const client = c.secret === '' ? clients.get(c.id) : undefined;
    if (client?.public) return client;
  }
  return undefined;
}

function orFail(client: ClientConfig | undefined, challenge: boolean): ClientConfig {
  if (!client) throw new InvalidClientError(BAD_CLIENT, challenge);
  return client;
}
