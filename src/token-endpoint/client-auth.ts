/**
 * Client authentication at the token endpoint (RFC 6749 §2.3.1, §3.2.1):
 * `client_secret_basic`, `client_secret_post`, and `none` for public clients.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientConfig } from '../config/types.js';
import { InvalidClientError, InvalidRequestError } from '../oauth/errors.js';
import { formDecode, type FormParams } from '../http/read-form.js';
import type { ClientRegistry } from './clients.js';

export interface BasicCredentials {
  readonly id: string;
  readonly secret: string;
}

const BAD_CLIENT = 'client authentication failed';
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses `Authorization: Basic`. RFC 6749 §2.3.1: the id and the secret are
 * `application/x-www-form-urlencoded` before base64 (`+` is a space, `%3A` a colon).
 * Returns undefined when there is no Authorization header.
 * @throws InvalidClientError for another scheme or a malformed value.
 */
export function parseBasic(headers: IncomingHttpHeaders): BasicCredentials | undefined {
  const value = headers.authorization;
  if (value === undefined) return undefined;
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(value);
  if (!match?.[1] || match[1].length % 4 === 1) throw new InvalidClientError('client authentication must use the Basic scheme with base64 credentials');
  let decoded: string;
  try {
    decoded = UTF8.decode(Buffer.from(match[1], 'base64'));
  } catch {
    throw new InvalidClientError('Basic credentials are not UTF-8');
  }
  const colon = decoded.indexOf(':');
  if (colon === -1) throw new InvalidClientError('Basic credentials must be client_id:client_secret');
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw new InvalidClientError('Basic credentials must be form-urlencoded UTF-8 (RFC 6749 §2.3.1)');
  }
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
  if (basic) {
    if (bodyId !== undefined && bodyId !== basic.id) throw new InvalidRequestError('client_id does not match the Basic credentials');
    return orFail(await clients.authenticate(basic.id, basic.secret, clientIp));
  }
  if (bodyId === undefined) throw new InvalidClientError('no client authentication included');
  if (bodySecret !== undefined) return orFail(await clients.authenticate(bodyId, bodySecret, clientIp));
  return orFail(await clients.publicClient(bodyId, clientIp));
}

function orFail(client: ClientConfig | undefined): ClientConfig {
  if (!client) throw new InvalidClientError(BAD_CLIENT);
  return client;
}
