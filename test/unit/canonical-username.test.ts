import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalUsername } from '../../src/security/canonical-username.js';

describe('canonicalUsername', () => {
  it('maps every case and width spelling of a name to one key (docs/security.md)', () => {
    const spellings = ['GINA', 'ｇｉｎａ', 'gina', 'Gina', 'ＧＩＮＡ', 'gIｎA'];
    expect(new Set(spellings.map((s) => canonicalUsername(s, false)))).toEqual(new Set(['gina']));
  });

  it('keeps the case when caseSensitive, but still applies NFKC', () => {
    expect(canonicalUsername('GINA', true)).toBe('GINA');
    expect(canonicalUsername('ＧＩＮＡ', true)).toBe('GINA');
    expect(canonicalUsername('ｇｉｎａ', true)).toBe('gina');
    expect(canonicalUsername('Gina', true)).not.toBe(canonicalUsername('gina', true));
  });

  it('folds compatibility forms and composes combining marks', () => {
    expect(canonicalUsername('ﬁona', false)).toBe('fiona'); // U+FB01 ligature
    expect(canonicalUsername('jose\u0301', false)).toBe('josé'); // NFD input
    expect(canonicalUsername('JOSÉ', false)).toBe('josé');
    expect(canonicalUsername('①', false)).toBe('1');
  });

  it('lower-cases without a locale (no Turkish dotless i) and is not full case folding', () => {
    expect(canonicalUsername('IDA', false)).toBe('ida');
    expect(canonicalUsername('STRAẞE', false)).toBe('straße');
    expect(canonicalUsername('straße', false)).not.toBe(canonicalUsername('strasse', false));
  });

  it('keeps whitespace and other characters as they are', () => {
    expect(canonicalUsername(' joe ', false)).toBe(' joe ');
    expect(canonicalUsername('joe)(uid=*', false)).toBe('joe)(uid=*');
    expect(canonicalUsername('joe\u0000', false)).toBe('joe\u0000');
    expect(canonicalUsername('', false)).toBe('');
  });

  it('is idempotent for any string and either case rule', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.boolean(), (s, caseSensitive) => {
        const once = canonicalUsername(s, caseSensitive);
        expect(canonicalUsername(once, caseSensitive)).toBe(once);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the same key to a name and its upper-case and full-width spellings', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9]{1,16}$/), (name) => {
        const wide = name.replace(/[!-~]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0));
        expect(canonicalUsername(name.toUpperCase(), false)).toBe(name);
        expect(canonicalUsername(wide, false)).toBe(name);
      }),
    );
  });
});
