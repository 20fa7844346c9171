/**
 * The one reading of a configured URL (`upstream.url`, `routes[].upstream`, the HTTP and LDAP
 * validators' `url`, `incumbent.introspection.url`, the `http-url` and `redis-url` formats):
 * what is in it that its key does not allow, by kind. Each caller words the problem for its
 * key; the parsing (WHATWG URL, as Node and undici read it) is the same for all.
 */

export interface UrlReading {
  /** The parsed URL; undefined when the value is not a URL. */
  readonly url: URL | undefined;
  /** The scheme is not one of the allowed ones (true when not a URL). */
  readonly wrongProtocol: boolean;
  /** It carries a username or password. */
  readonly credentials: boolean;
  /** It has a query (even an empty `?`). */
  readonly query: boolean;
  /** It has a fragment (even an empty `#`). */
  readonly fragment: boolean;
  /** It has a path other than `/`. */
  readonly path: boolean;
  /** It has no host. */
  readonly noHost: boolean;
}

/** Reads `value` as a URL whose scheme must be one of `protocols` (`'https:'`, …). */
export function readUrl(value: string, protocols: readonly string[]): UrlReading {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { url: undefined, wrongProtocol: true, credentials: false, query: false, fragment: false, path: false, noHost: true };
  }
  return {
    url,
    wrongProtocol: !protocols.includes(url.protocol),
    credentials: url.username !== '' || url.password !== '',
    query: url.search !== '' || value.includes('?'),
    fragment: url.hash !== '' || value.includes('#'),
    path: url.pathname !== '' && url.pathname !== '/',
    noHost: url.hostname === '',
  };
}

/** True when `value` is a URL with one of `protocols`. */
export function isUrl(value: string, protocols: readonly string[]): boolean {
  return !readUrl(value, protocols).wrongProtocol;
}
