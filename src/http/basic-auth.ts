/**
 * `Authorization: Basic` decoded once for both data paths (RFC 7617 §2): the scheme name
 * case-insensitive, then base64 of UTF-8 `user-pass`. What the user-pass means differs, so
 * splitting it is each caller's: client authentication at the token endpoint form-decodes it
 * first (RFC 6749 §2.3.1, token-endpoint/basic-credentials.ts), while the Basic bridge of the
 * resource path splits it raw with {@link splitUserPass} (RFC 7617 §2).
 */

const BASIC = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A decoded Basic value: its `user-pass`, or why it is malformed — `scheme` (not Basic, or not
 * base64 token68) or `utf8` (the decoded bytes are not UTF-8).
 */
export type BasicDecoding = { readonly userPass: string } | { readonly malformed: 'scheme' | 'utf8' };

/** The base64-decoded UTF-8 `user-pass` of an Authorization value, neither split nor form-decoded. */
export function decodeBasic(value: string): BasicDecoding {
  const match = BASIC.exec(value);
  if (!match?.[1] || match[1].length % 4 === 1) return { malformed: 'scheme' };
  try {
    return { userPass: UTF8.decode(Buffer.from(match[1], 'base64')) };
  } catch {
    return { malformed: 'utf8' };
  }
}

/**
 * A user-pass split at its first colon (RFC 7617 §2: a user-id holds no colon), nothing
 * form-decoded. Null when either part is empty or the value holds control characters (which
 * RFC 7617 §2 forbids in both).
 */
export function splitUserPass(userPass: string): { username: string; password: string } | null {
  const colon = userPass.indexOf(':');
  if (colon <= 0 || colon === userPass.length - 1) return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: RFC 7617 §2: user-id and password must not contain control characters
  if (/[\x00-\x1f\x7f]/.test(userPass)) return null;
  return { username: userPass.slice(0, colon), password: userPass.slice(colon + 1) };
}
