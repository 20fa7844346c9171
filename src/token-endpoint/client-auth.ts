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
import type { FormParams } from '../http/read-form.js';
import { basicReadings, type ClientCredentials } from './basic-credentials.js';
import type { ClientRegistry } from './clients.js';

export interface BasicCredentials {
  /** The base64-decoded `user-pass` (RFC 7617 §2), not yet split or form-decoded. */
  readonly userPass: string;
}

const BAD_CLIENT = 'client authentication failed';
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses `Authorization: Basic` into its UTF-8 user-pass; splitting and decoding it is
 * basic-credentials.ts's job. Returns undefined when there is no Authorization header.
 * @throws InvalidClientError (with a challenge) for another scheme or a malformed value.
 */
export function parseBasic(headers: IncomingHttpHeaders): BasicCredentials | undefined {
  const value = headers.authorization;
  if (value === undefined) return undefined;
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(value);
  if (!match?.[1] || match[1].length % 4 === 1) throw new InvalidClientError('client authentication must use the Basic scheme with base64 credentials');
  let userPass: string;
  try {
    userPass = UTF8.decode(Buffer.from(match[1], 'base64'));
  } catch {
    throw new InvalidClientError('Basic credentials are not UTF-8');
  }
  if (!userPass.includes(':')) throw new InvalidClientError('Basic credentials must be client_id:client_secret');
  return { userPass };
}

/**
 * Authenticates the client of a token-side request by exactly one method. A failure counts in
 * the failure budget of `clientIp`, and an IP over budget is refused before any hash (clients.ts).
 */
export async function authenticateClient(headers: IncomingHttpHeaders, params: FormParams, clients: ClientRegistry, clientIp: string): Promise<ClientConfig> {
  const basic = parseBasic(headers);
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (basic && bodySecret !== undefined) {
    throw new InvalidRequestError('the client authenticated with both Basic and client_secret; use one method');
  }
  if (basic) return authenticateBasic(basicCandidates(basic, bodyId, clients), clients, clientIp);
  if (bodyId === undefined) throw new InvalidClientError('no client authentication included');
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
async function authenticateBasic(candidates: readonly ClientCredentials[], clients: ClientRegistry, clientIp: string): Promise<ClientConfig> {
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
