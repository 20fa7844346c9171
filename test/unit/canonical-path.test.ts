/**
 * The canonical request path (docs/routing.md "One canonical path"): every spelling either
 * has exactly one canonical form or is refused, and the canonical form is a fixed point of
 * itself and of the WHATWG URL parser (which http-proxy-3 applies before forwarding).
 */
import { describe, expect, it } from 'vitest';
import { canonicalPath, canonicalTarget, NonCanonicalPathError } from '../../src/resource/canonical-path.js';
import { InvalidRequestError } from '../../src/oauth/errors.js';

/** [raw path, canonical path] */
const CANONICALISED: [string, string][] = [
  ['/', '/'],
  ['/admin/panel', '/admin/panel'],
  ['/%61dmin/panel', '/admin/panel'],
  ['/%61%64%6D%69%6E/panel', '/admin/panel'],
  ['/%41DMIN/panel', '/ADMIN/panel'],
  ['//admin/panel', '/admin/panel'],
  ['///admin//panel//', '/admin/panel/'],
  ['/a/%7e%2D%5f%2E%30', '/a/~-_.0'],
  ['/a/%c3%a9', '/a/%C3%A9'],
  ['/a/%C3%A9', '/a/%C3%A9'],
  ['/a/\xc3\xa9', '/a/%C3%A9'], // raw UTF-8 bytes (as latin1 characters, which Node gives)
  ['/a/%e2%82%ac', '/a/%E2%82%AC'],
  ['/a/%F0%9F%98%80', '/a/%F0%9F%98%80'],
  ['/stra%C3%9Fe', '/stra%C3%9Fe'], // ß: only a multi-character full case mapping
  ['/a/%20b', '/a/%20b'],
  ['/a/%3f', '/a/%3F'],
  ['/a/%23', '/a/%23'],
  ['/a/"<>`{}|^[]', '/a/%22%3C%3E%60%7B%7D%7C%5E%5B%5D'],
  ["/a/!$&'()*+,=:@", "/a/!$&'()*+,=:@"],
  ['/a/%21%40', '/a/%21%40'], // encoded reserved characters keep their meaning (RFC 3986 §2.2)
  ['/a/...', '/a/...'],
  ['/a/.b', '/a/.b'],
  ['/a/b.', '/a/b.'],
  ['/a/%2e%2e%2e', '/a/...'],
  ['/.well-known/x', '/.well-known/x'],
];

/** [raw path, part of the reason] */
const REFUSED: [string, RegExp][] = [
  // dot-segments, however spelled
  ['/.', /segment/],
  ['/./admin', /segment/],
  ['/admin/./panel', /segment/],
  ['/admin/.', /segment/],
  ['/public/..', /segment/],
  ['/public/../admin', /segment/],
  ['/public/%2e%2e/admin', /segment/],
  ['/public/%2E%2E/admin', /segment/],
  ['/public/.%2e/admin', /segment/],
  ['/public/%2e./admin', /segment/],
  ['/public/%2e/admin', /segment/],
  ['/public//..//admin', /segment/],
  ['/public/..;/admin', /segment/],
  ['/api/..;/admin/y', /segment/],
  ['/public/..;x=1/admin', /segment/],
  ['/public/.;/admin', /segment/],
  ['/public/%2e%2e;/admin', /segment/],
  // encoded separators and backslashes
  ['/admin%2fpanel', /encoded slash/],
  ['/admin%2Fpanel', /encoded slash/],
  ['/public/%2e%2e%2fadmin', /encoded slash/],
  ['/public%5cadmin', /encoded backslash/],
  ['/public\\..\\admin', /backslash/],
  ['/public\\admin', /backslash/],
  // double encoding
  ['/%2561dmin', /%25/],
  ['/public/%252e%252e/admin', /%25/],
  ['/%25%32%65', /%25/],
  ['/a/%25', /%25/],
  // malformed escapes, IIS %u
  ['/%u0061dmin', /malformed/],
  ['/%zz', /malformed/],
  ['/a%', /malformed/],
  ['/a%2', /malformed/],
  ['/%%34%31', /malformed/],
  // controls, raw or encoded
  ['/admin%00/panel', /control/],
  ['/admin%00', /control/],
  ['/a%09b', /control/],
  ['/a%0d%0aX-Injected:%201', /control/],
  ['/a%7f', /control/],
  ['/a\tb', /control/],
  ['/a\x00', /control/],
  ['/a\x7f', /control/],
  // invalid and overlong UTF-8
  ['/%c0%ae%c0%ae/admin', /UTF-8/],
  ['/public/%c0%ae%c0%ae/admin', /UTF-8/],
  ['/%c0%af', /UTF-8/],
  ['/%e0%80%ae', /UTF-8/],
  ['/%f0%80%80%ae', /UTF-8/],
  ['/%c3', /UTF-8/],
  ['/%c3/', /UTF-8/],
  ['/%80', /UTF-8/],
  ['/%ed%a0%80', /UTF-8/], // a surrogate
  ['/%f4%90%80%80', /UTF-8/], // above U+10FFFF
  ['/%ff', /UTF-8/],
  ['/\xc0\xae', /UTF-8/],
  // characters an upstream could fold into ASCII
  ['/%EF%BC%A1dmin', /folds/], // fullwidth A
  ['/public/%EF%BC%8E%EF%BC%8E/admin', /folds/], // fullwidth full stops
  ['/public%EF%BC%8Fadmin', /folds/], // fullwidth solidus
  ['/%C4%B1tems', /folds/], // dotless ı → I
  ['/%C5%BFecret', /folds/], // long s → S
  ['/%E2%84%AAey', /folds/], // Kelvin sign → k
  ['/%C4%B0tems', /folds/], // İ → i
  ['/%EF%AC%81le', /folds/], // the ligature ﬁ → fi
  // an encoded ";" (Tomcat decodes it after stripping parameters)
  ['/admin%3bx/panel', /%3B/],
];

describe('canonicalPath', () => {
  for (const [raw, canonical] of CANONICALISED) {
    it(`${JSON.stringify(raw)} → ${canonical}`, () => {
      expect(canonicalPath(raw)).toBe(canonical);
      // A fixed point of itself and of the WHATWG parser.
      expect(canonicalPath(canonical)).toBe(canonical);
      expect(new URL(canonical, 'http://upstream.invalid').pathname).toBe(canonical);
    });
  }
  for (const [raw, reason] of REFUSED) {
    it(`refuses ${JSON.stringify(raw)}`, () => {
      let error: unknown;
      try {
        canonicalPath(raw);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(NonCanonicalPathError);
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect((error as InvalidRequestError).status).toBe(400);
      expect((error as InvalidRequestError).code).toBe('invalid_request');
      expect((error as Error).message).toMatch(reason);
    });
  }

  it('never yields a path a decoding upstream could read as a dot-segment or another separator', () => {
    // Random spellings from an alphabet of the dangerous pieces: whatever is not refused
    // must be stable and decode to a path without dot-segments or backslashes.
    const pieces = [
      '/',
      '.',
      '%2e',
      '%2E',
      'a',
      '%61',
      '%2f',
      '%5c',
      '\\',
      ';',
      '%3b',
      '%25',
      '%00',
      '%c0%ae',
      '%C3%A9',
      '~',
      '%7E',
      '//',
      '..',
      'A',
    ];
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 5000; n++) {
      let raw = '/';
      for (let k = next() % 8; k >= 0; k--) raw += pieces[next() % pieces.length];
      let canonical: string;
      try {
        canonical = canonicalPath(raw);
      } catch (err) {
        expect(err).toBeInstanceOf(NonCanonicalPathError);
        continue;
      }
      expect(canonicalPath(canonical)).toBe(canonical);
      expect(new URL(canonical, 'http://upstream.invalid').pathname).toBe(canonical);
      const decoded = decodeURIComponent(canonical);
      expect(decoded.split('/').some((s) => s === '.' || s === '..')).toBe(false);
      expect(decoded).not.toContain('\\');
      expect(decoded).not.toMatch(/\/\//);
    }
  });
});

describe('canonicalTarget', () => {
  it('keeps the query byte for byte and rewrites only the path', () => {
    expect(canonicalTarget('//%61dmin/x?a=%2e%2e/&b=//')).toEqual({
      path: '/admin/x',
      query: 'a=%2e%2e/&b=//',
      withoutParameters: null,
      url: '/admin/x?a=%2e%2e/&b=//',
    });
    expect(canonicalTarget('/x?')).toMatchObject({ path: '/x', query: '', url: '/x?' });
    expect(canonicalTarget('/x')).toMatchObject({ query: null, url: '/x' });
  });

  it('reads ";" parameters as Tomcat does, for the route check', () => {
    expect(canonicalTarget('/admin;x=1/panel')).toMatchObject({ path: '/admin;x=1/panel', withoutParameters: '/admin/panel' });
    expect(canonicalTarget('/public/x;jsessionid=AB')).toMatchObject({ path: '/public/x;jsessionid=AB', withoutParameters: '/public/x' });
    expect(canonicalTarget('/public/;x/admin')).toMatchObject({ withoutParameters: '/public/admin' });
    expect(canonicalTarget('/;x/admin')).toMatchObject({ withoutParameters: '/admin' });
  });

  it('refuses targets that are not origin-form, and fragments', () => {
    for (const url of ['*', 'http://upstream/admin/panel', 'HTTPS://h/x', 'admin/panel', '', '?x', '/a#b', '/a?b#c']) {
      expect(() => canonicalTarget(url), url).toThrow(NonCanonicalPathError);
    }
  });
});
