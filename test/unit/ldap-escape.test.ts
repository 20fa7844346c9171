/**
 * RFC 4515 filter escaping and RFC 4514 DN escaping (escaped LDAP filters and
 * DNs, each with a test). The property tests parse the escaped text back — filters with
 * ldapts' own parser, the one that turns the validator's filter strings into requests — and
 * check that any string, injection attempts included, comes back as exactly one value.
 */
import fc from 'fast-check';
import { AndFilter, EqualityFilter, FilterParser, OrFilter } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { escapeDnValue, escapeFilterValue, fillTemplate, firstRdnValue } from '../../src/validators/ldap-escape.js';

/** Strings of any Unicode code points (no lone surrogates), weighted towards the special ones. */
const anyText = fc.oneof(
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: fc.constantFrom('*', '(', ')', '\\', '\u0000', ',', '+', '=', '"', ';', '<', '>', '#', ' ', 'a', 'ü', '😀', '\n') }),
);

describe('escapeFilterValue (RFC 4515 §3)', () => {
  it.each([
    ['*', '\\2a'],
    ['(', '\\28'],
    [')', '\\29'],
    ['\\', '\\5c'],
    ['\u0000', '\\00'],
    ['alice)(uid=*', 'alice\\29\\28uid=\\2a'],
    ['*)(|(uid=*', '\\2a\\29\\28|\\28uid=\\2a'],
    ['alice\\2a', 'alice\\5c2a'],
    ['tab\there', 'tab\\09here'],
    ['jürgen', 'jürgen'],
    ['p&ss=w+rd%20', 'p&ss=w+rd%20'],
    ['', ''],
  ])('escapes %j as %j', (value, escaped) => {
    expect(escapeFilterValue(value)).toBe(escaped);
  });

  it('leaves no filter metacharacter unescaped', () => {
    fc.assert(
      fc.property(anyText, (value) => {
        const escaped = escapeFilterValue(value);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is one of the characters RFC 4515 §3 requires escaped
        expect(escaped).not.toMatch(/[()*\u0000]/);
        // Every backslash starts a two-digit hex escape.
        expect(escaped.replace(/\\[0-9a-f]{2}/g, '')).not.toContain('\\');
      }),
    );
  });

  it('round-trips any string through ldapts’ filter parser as one equality value', () => {
    fc.assert(
      fc.property(
        anyText.filter((v) => v !== ''),
        (value) => {
          const filter = FilterParser.parseString(`(uid=${escapeFilterValue(value)})`);
          expect(filter).toBeInstanceOf(EqualityFilter);
          expect((filter as EqualityFilter).attribute).toBe('uid');
          expect((filter as EqualityFilter).value).toBe(value);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps a composite template’s structure whatever the username', () => {
    fc.assert(
      fc.property(
        anyText.filter((v) => v !== ''),
        (value) => {
          const text = fillTemplate('(&(objectClass=person)(|(uid={username})(mail={username})))', { username: value }, escapeFilterValue);
          const and = FilterParser.parseString(text) as AndFilter;
          expect(and).toBeInstanceOf(AndFilter);
          expect(and.filters).toHaveLength(2);
          const or = and.filters[1] as OrFilter;
          expect(or).toBeInstanceOf(OrFilter);
          expect(or.filters.map((f) => [(f as EqualityFilter).attribute, (f as EqualityFilter).value])).toEqual([
            ['uid', value],
            ['mail', value],
          ]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('escapeDnValue (RFC 4514 §2.4)', () => {
  it.each([
    ['alice', 'alice'],
    ['a+b,c', 'a\\+b\\,c'],
    ['"quoted";<x>=\\', '\\"quoted\\"\\;\\<x\\>\\=\\\\'],
    [' lead', '\\ lead'],
    ['trail ', 'trail\\ '],
    [' ', '\\ '],
    ['  ', '\\ \\ '],
    ['#hash', '\\#hash'],
    ['mid#dle', 'mid#dle'],
    ['in ner', 'in ner'],
    ['nul\u0000', 'nul\\00'],
    ['line\nbreak', 'line\\0abreak'],
    ['jürgen', 'jürgen'],
    ['alice,ou=admins', 'alice\\,ou\\=admins'],
  ])('escapes %j as %j', (value, escaped) => {
    expect(escapeDnValue(value)).toBe(escaped);
  });

  it('round-trips any string as the first RDN value of a DN', () => {
    fc.assert(
      fc.property(
        anyText.filter((v) => v !== ''),
        (value) => {
          const dn = `uid=${escapeDnValue(value)},ou=people,dc=example,dc=org`;
          expect(firstRdnValue(dn)).toBe(value);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never lets a value add an RDN or an attribute', () => {
    fc.assert(
      fc.property(anyText, (value) => {
        const escaped = escapeDnValue(value);
        // Every `,` `+` `;` `=` is preceded by an odd run of backslashes (i.e. escaped).
        for (const match of escaped.matchAll(/(\\*)[,+;=]/g)) expect(match[1]!.length % 2).toBe(1);
      }),
    );
  });
});

describe('fillTemplate', () => {
  it('fills every placeholder in one pass: a value holding {dn} is not expanded again', () => {
    const filled = fillTemplate(
      '(|(member={dn})(memberUid={username}))',
      { dn: 'uid={username},dc=x', username: '{dn}' },
      escapeFilterValue,
    );
    expect(filled).toBe('(|(member=uid={username},dc=x)(memberUid={dn}))');
  });

  it('leaves unknown placeholders as written', () => {
    expect(fillTemplate('(uid={user})', { username: 'a' }, escapeFilterValue)).toBe('(uid={user})');
  });
});

describe('firstRdnValue', () => {
  it.each([
    ['cn=admins,ou=groups,dc=example,dc=org', 'admins'],
    ['CN=Domain Admins,CN=Users,DC=corp,DC=example', 'Domain Admins'],
    ['cn=R\\26D\\2c Europe,ou=groups', 'R&D, Europe'],
    ['cn=J\\c3\\bcrgen,ou=people', 'Jürgen'],
    ['cn=Jürgen,ou=people', 'Jürgen'],
    ['cn=a\\+b+sn=c,ou=x', 'a+b'],
    ['cn=only', 'only'],
    ['cn=#04024869,dc=x', '#04024869'],
  ])('reads %j as %j', (dn, name) => {
    expect(firstRdnValue(dn)).toBe(name);
  });

  it.each(['', 'no-equals', '=value', 'cn=', 'cn=trailing\\'])('answers undefined for %j', (dn) => {
    expect(firstRdnValue(dn)).toBeUndefined();
  });
});
