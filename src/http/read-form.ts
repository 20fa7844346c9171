/**
 * Strict `application/x-www-form-urlencoded` bodies for the OAuth endpoints
 * (RFC 6749 §3.2 and Appendix B).
 *
 * - only that content type (a charset parameter is allowed);
 * - a body over the limit is refused with 413 before it is read (Content-Length) or as soon
 *   as it passes the limit (chunked);
 * - a repeated parameter is `invalid_request` (RFC 6749 §3.2: "MUST NOT be included more
 *   than once"); a parameter sent empty counts as omitted (§3.1);
 * - malformed percent-encoding, invalid UTF-8, NUL bytes and nameless parameters are
 *   `invalid_request`.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidRequestError, PayloadTooLargeError } from '../oauth/errors.js';

export type FormParams = ReadonlyMap<string, string>;

/** More parameters than any OAuth request needs; beyond it the body is refused. */
const MAX_PARAMS = 64;

export function isFormContentType(header: string | undefined): boolean {
  if (!header) return false;
  const type = header.split(';', 1)[0]?.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded';
}

/** Reads the request body up to `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new PayloadTooLargeError(`request body is larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(new PayloadTooLargeError(`request body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/** Decodes one `application/x-www-form-urlencoded` component (`+` is a space). */
export function formDecode(value: string): string {
  const decoded = decodeURIComponent(value.replace(/\+/g, ' '));
  return decoded;
}

export function parseForm(body: Buffer): FormParams {
  const text = body.toString('latin1');
  const params = new Map<string, string>();
  const seen = new Set<string>();
  const pieces = text.split('&');
  if (pieces.length > MAX_PARAMS) throw new InvalidRequestError(`too many parameters (at most ${MAX_PARAMS})`);
  for (const piece of pieces) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const rawName = eq === -1 ? piece : piece.slice(0, eq);
    const rawValue = eq === -1 ? '' : piece.slice(eq + 1);
    const name = decodeComponent(rawName, 'parameter name');
    if (name === '') throw new InvalidRequestError('a parameter has no name');
    if (seen.has(name)) throw new InvalidRequestError(`parameter "${printable(name)}" is repeated`);
    seen.add(name);
    const value = decodeComponent(rawValue, `parameter "${printable(name)}"`);
    if (value !== '') params.set(name, value);
  }
  return params;
}

function decodeComponent(raw: string, what: string): string {
  // The body was read as latin1 so each byte is one char; non-ASCII bytes must be percent-encoded.
  if (/[^\x21-\x7e]/.test(raw)) throw new InvalidRequestError(`${what} contains characters that must be percent-encoded`);
  let value: string;
  try {
    value = formDecode(raw);
  } catch {
    throw new InvalidRequestError(`${what} has malformed percent-encoding or is not UTF-8`);
  }
  if (value.includes('\0')) throw new InvalidRequestError(`${what} contains a NUL character`);
  return value;
}

/** A parameter name safe to echo in an error description. */
function printable(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '?').slice(0, 40);
}
