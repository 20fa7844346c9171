/**
 * The credentials of a resource request, from the Authorization header only: a Bearer token
 * (RFC 6750 §2.1, scheme name case-insensitive) or, for `bearer-or-basic` routes, the Basic
 * value as sent (RFC 7617; decoded by basic-bridge.ts through http/basic-auth.ts). A token in
 * the query (RFC 6750 §2.3) or sent twice is refused as `invalid_request`; any other scheme
 * counts as no credentials.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidRequestError } from '../oauth/errors.js';

const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export type Credentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'basic'; readonly value: string }
  | { readonly kind: 'malformed' };

/** What the request's Authorization header carries; throws InvalidRequestError for a token sent twice or in the URI. */
export function readCredentials(req: IncomingMessage, query: string): Credentials {
  const values = req.headersDistinct.authorization;
  if (query.includes('access_token=') && /(?:^|&)access_token=/.test(query)) {
    throw new InvalidRequestError(
      values ? 'the access token was sent in more than one way' : 'send the access token in the Authorization header, not the URI',
    );
  }
  if (!values) return { kind: 'none' };
  if (values.length > 1) throw new InvalidRequestError('more than one Authorization header');
  const value = values[0] as string;
  const bearer = BEARER.exec(value);
  if (bearer?.[1]) return { kind: 'bearer', token: bearer[1] };
  if (/^bearer(?: |$)/i.test(value)) return { kind: 'malformed' };
  if (/^basic /i.test(value)) return { kind: 'basic', value };
  return { kind: 'none' };
}
