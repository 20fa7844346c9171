/**
 * The canonical form of a request target (docs/routing.md "One canonical path"): the one
 * spelling the route rules judge and the upstream receives, so the two can never differ.
 *
 * Built the way nginx, Envoy (`normalize_path`, `merge_slashes`,
 * `path_with_escaped_slashes_action: REJECT_REQUEST`) and Spring's `StrictHttpFirewall` do it:
 *
 * - percent-encoded unreserved characters (RFC 3986 §2.3: ALPHA DIGIT - . _ ~) are decoded
 *   (`/%61dmin` → `/admin`), every other escape keeps its meaning and gets upper-case hex
 *   (§6.2.2.1), and characters outside `pchar` (§3.3) are percent-encoded; raw non-ASCII
 *   bytes are percent-encoded as they are (after the UTF-8 check below);
 * - repeated slashes are merged (`//admin` → `/admin`);
 * - refused, because a real upstream may read them as another path than the rules did:
 *   malformed escapes (`%zz`, a trailing `%`, IIS's `%u0061`), `%25` (double encoding),
 *   encoded `/` and `\` (`%2F`, `%5C`), a raw `\`, NUL and control characters (raw or
 *   encoded), invalid or overlong UTF-8 (`%C0%AE`), non-ASCII characters that a Unicode
 *   compatibility or case mapping turns into ASCII (fullwidth `％`, `ſ`, the Kelvin sign),
 *   `.` and `..` segments after decoding (`/%2e%2e/`, `/.%2e/`, a trailing `/.`), an encoded
 *   `;` (`%3B`), a fragment (`#`), and any target that is not origin-form (absolute-form
 *   `http://host/path`, asterisk-form `*`, a path not starting with `/`).
 *
 * A raw `;` (a path parameter, which Tomcat strips per segment and so reads `/..;/` as `/../`)
 * is kept: the result then also carries the path with the parameters stripped, and the
 * resource path refuses the request unless every rule either spelling matches allows it
 * (routes[].pathParameters, see handler.ts).
 */
import { InvalidRequestError } from '../oauth/errors.js';

/** An origin-form request target in canonical form. */
export interface CanonicalTarget {
  /** The canonical path: what the rules match and what goes upstream. */
  readonly path: string;
  /** The query after the first `?`, byte for byte as the client sent it; null without a `?`. */
  readonly query: string | null;
  /** The path with `;` parameters stripped from every segment (Tomcat's reading); null when it has none. */
  readonly withoutParameters: string | null;
  /** `path` plus `?query`: the request target sent upstream. */
  readonly url: string;
}

/** Why a target has no canonical form; the message is safe to log and to answer with (it never holds the path). */
export class NonCanonicalPathError extends InvalidRequestError {}

const HEX = /^[0-9A-Fa-f]{2}$/;

/** RFC 3986 §2.3 unreserved. */
function isUnreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e
  );
}

/** RFC 3986 §3.3 pchar without unreserved and pct-encoded: sub-delims, `:` and `@` (and `/` between segments). */
const RAW_ALLOWED = new Set([...`!$&'()*+,;=:@/`].map((c) => c.charCodeAt(0)));

function refuse(reason: string): never {
  throw new NonCanonicalPathError(`the request path ${reason}`);
}

function hex(b: number): string {
  return `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * The canonical form of an origin-form request target (`req.url`, `X-Original-URI`…).
 * @throws NonCanonicalPathError (400 `invalid_request`) when it has none; the message says why.
 */
export function canonicalTarget(url: string): CanonicalTarget {
  if (url.includes('#')) refuse('has a fragment ("#")');
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? null : url.slice(q + 1);
  if (rawPath === '*') refuse('is "*" (asterisk-form is not served)');
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(rawPath)) refuse('is in absolute-form (scheme://host/path); send the path only');
  if (!rawPath.startsWith('/')) refuse('does not start with "/"');
  const path = canonicalPath(rawPath);
  const withoutParameters = path.includes(';') ? stripParameters(path) : null;
  return { path, query, withoutParameters, url: query === null ? path : `${path}?${query}` };
}

/**
 * Steps: decode and re-encode byte by byte (with the UTF-8 check), merge slashes, refuse
 * dot-segments. The result is a fixed point: canonicalPath(canonicalPath(p)) === canonicalPath(p),
 * and the WHATWG URL parser (which http-proxy-3 applies) leaves it unchanged.
 */
export function canonicalPath(rawPath: string): string {
  let out = '';
  for (let i = 0; i < rawPath.length; ) {
    const [byte, encoded, next] = readByte(rawPath, i);
    if (byte >= 0x80) {
      const [sequence, after] = readUtf8(rawPath, i);
      out += sequence;
      i = after;
      continue;
    }
    i = next;
    if (byte < 0x20 || byte === 0x7f) refuse('has a control character');
    if (byte === 0x5c) refuse(encoded ? 'has an encoded backslash (%5C)' : 'has a backslash');
    if (encoded) {
      if (byte === 0x2f) refuse('has an encoded slash (%2F)');
      if (byte === 0x25) refuse('has an encoded "%" (%25, double encoding)');
      if (byte === 0x3b) refuse('has an encoded ";" (%3B)');
      out += isUnreserved(byte) ? String.fromCharCode(byte) : hex(byte);
    } else {
      out += isUnreserved(byte) || RAW_ALLOWED.has(byte) ? String.fromCharCode(byte) : hex(byte);
    }
  }
  out = out.replace(/\/{2,}/g, '/');
  for (const segment of out.split('/')) {
    if (segment === '.' || segment === '..') refuse('has a "." or ".." segment (after decoding)');
  }
  if (out.includes(';')) {
    for (const segment of out.split('/')) {
      const name = segment.split(';', 1)[0];
      if (name === '.' || name === '..') refuse('has a "." or ".." segment before a ";" parameter');
    }
  }
  return out;
}

/** Tomcat's reading of a path: each segment up to its first `;`, then slashes merged again. */
function stripParameters(path: string): string {
  return path
    .split('/')
    .map((segment) => segment.split(';', 1)[0])
    .join('/')
    .replace(/\/{2,}/g, '/');
}

/** The byte at `i` (raw, or a percent-escape), whether it was encoded, and where the next starts. */
function readByte(s: string, i: number): [byte: number, encoded: boolean, next: number] {
  const c = s.charCodeAt(i);
  if (c === 0x25) {
    const digits = s.slice(i + 1, i + 3);
    if (!HEX.test(digits)) refuse('has a malformed percent-escape');
    return [parseInt(digits, 16), true, i + 3];
  }
  // Node gives request targets as latin1: one character per byte. More cannot come from the wire.
  if (c > 0xff) refuse('has a character outside latin1');
  return [c, false, i + 1];
}

/**
 * One UTF-8 sequence starting at `i` (raw bytes, escapes or a mix), percent-encoded with
 * upper-case hex. Refuses what RFC 3629 §3 forbids: overlong forms, surrogates, code points
 * above U+10FFFF, stray continuation bytes; and characters that NFKC or a case mapping turn
 * into ASCII, which an upstream could fold into a path the rules did not judge.
 */
function readUtf8(s: string, i: number): [encoded: string, next: number] {
  const [lead, , afterLead] = readByte(s, i);
  let length: number;
  let min: number;
  if (lead >= 0xc2 && lead <= 0xdf) [length, min] = [2, 0x80];
  else if (lead >= 0xe0 && lead <= 0xef) [length, min] = [3, 0x800];
  else if (lead >= 0xf0 && lead <= 0xf4) [length, min] = [4, 0x10000];
  else refuse('has invalid or overlong UTF-8');
  let codePoint = lead & (0xff >> (length + 1));
  let encoded = hex(lead);
  let at = afterLead;
  for (let k = 1; k < length; k++) {
    if (at >= s.length) refuse('has invalid or overlong UTF-8');
    const [cont, , next] = readByte(s, at);
    if ((cont & 0xc0) !== 0x80) refuse('has invalid or overlong UTF-8');
    codePoint = (codePoint << 6) | (cont & 0x3f);
    encoded += hex(cont);
    at = next;
  }
  if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) refuse('has invalid or overlong UTF-8');
  if (foldsToAscii(String.fromCodePoint(codePoint))) refuse('has a non-ASCII character that folds to ASCII');
  return [encoded, at];
}

/**
 * True for a character that NFKC (fullwidth `／`, `．`, ligatures) or a one-to-one case mapping
 * (`ı`→`I`, `ſ`→`S`, the Kelvin sign→`k`, `İ`→`i`) turns into ASCII. Multi-character full
 * mappings such as `ß`→`SS` are not simple mappings (RFC 3629 text stays usable).
 */
function foldsToAscii(ch: string): boolean {
  const ascii = /\p{ASCII}/u;
  if (ascii.test(ch.normalize('NFKC'))) return true;
  if (ch === '\u0130') return true;
  return [ch.toLowerCase(), ch.toUpperCase()].some((m) => m.length === 1 && ascii.test(m));
}
