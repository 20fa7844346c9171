/**
 * The form every client-authenticated OAuth endpoint reads (token, revocation, introspection,
 * password change): POST, `application/x-www-form-urlencoded` (RFC 6749 §3.2, RFC 7009 §2.1,
 * RFC 7662 §2.1), parsed strictly and bounded (src/http/read-form.ts), and its required parameters.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidRequestError, MethodNotAllowedError } from '../oauth/errors.js';
import { isFormContentType, parseForm, readBody } from '../http/read-form.js';

/** The request's form: 405 for another method, invalid_request for another content type. */
export async function readOAuthForm(req: IncomingMessage, bodyLimit: number) {
  if (req.method !== 'POST') throw new MethodNotAllowedError('use POST', 'POST');
  if (!isFormContentType(req.headers['content-type'])) {
    throw new InvalidRequestError('the body must be application/x-www-form-urlencoded');
  }
  return parseForm(await readBody(req, bodyLimit));
}

/** A parameter the request must carry: invalid_request names it when it is missing. */
export function required(value: string | undefined, name: string): string {
  if (value === undefined) throw new InvalidRequestError(`missing parameter: ${name}`);
  return value;
}
