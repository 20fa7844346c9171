/**
 * Escaping of values put into LDAP search filters (RFC 4515) and distinguished names
 * (RFC 4514), and reading a group name out of a DN. Pure functions; the LDAP validator
 * puts every value that comes from a request (the username) or from the directory (a DN)
 * through them before it reaches a filter or a bind DN.
 */

const HEX = (code: number): string => `\\${code.toString(16).padStart(2, '0')}`;

/**
 * Escapes a value for use inside a search filter's assertion value (RFC 4515 §3).
 *
 * `*`, `(`, `)`, `\` and NUL are always escaped as `\2a`, `\28`, `\29`, `\5c` and `\00`, so a
 * username can never add a wildcard, close the filter or open a new one. The other ASCII
 * control characters are escaped too (allowed, and keeps log lines readable).
 *
 * Characters outside ASCII are left as they are: RFC 4515's grammar allows UTF-8 characters
 * unescaped (`UTFMB`), and ldapts' filter parser decodes each `\XX` into ONE character, so
 * escaping the bytes of a multi-byte character would turn `ü` into `Ã¼`.
 */
export function escapeFilterValue(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: RFC 4515 §3 escapes NUL; the other control characters are escaped so no filter carries them raw
  return value.replace(/[\u0000-\u001f\u007f()*\\]/g, (c) => HEX(c.charCodeAt(0)));
}

/**
 * Escapes a value for use as an attribute value in a DN string (RFC 4514 §2.4).
 *
 * Escaped: `"` `+` `,` `;` `<` `>` `\` and `=` with a backslash; `#` or a space at the start and
 * a space at the end with a backslash; NUL and the other ASCII control characters as `\XX`
 * hex pairs (`\00`). Characters outside ASCII are left as UTF-8, as RFC 4514 allows.
 */
export function escapeDnValue(value: string): string {
  let out = '';
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = value[i]!;
    if (c < ' ' || c === '\u007f') out += HEX(c.charCodeAt(0));
    else if ('"+,;<=>\\'.includes(c)) out += `\\${c}`;
    else if ((i === 0 && (c === ' ' || c === '#')) || (i === last && c === ' ')) out += `\\${c}`;
    else out += c; // surrogate halves are never special, so code units are safe to copy
  }
  return out;
}

/**
 * Fills `{name}` placeholders of a filter or DN template in one pass: a value that itself
 * contains `{dn}` or `{username}` is not expanded again. Unknown placeholders stay as written.
 */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>, escapeValue: (value: string) => string): string {
  return template.replace(/\{([A-Za-z]+)\}/g, (whole, name: string) => {
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    return value === undefined ? whole : escapeValue(value);
  });
}

/**
 * The value of the first attribute of a DN's first RDN, unescaped (RFC 4514 §3): the group
 * name in `cn=Domain Admins,ou=groups,dc=example,dc=org` is `Domain Admins`. Hex pairs are
 * UTF-8 bytes (`\c3\bc` is `ü`). A value in the `#` BER form is returned as written.
 * @returns undefined when the DN does not start with `type=value`.
 */
export function firstRdnValue(dn: string): string | undefined {
  const equals = dn.indexOf('=');
  if (equals <= 0) return undefined;
  if (dn[equals + 1] === '#') return /^[^,+;]*/.exec(dn.slice(equals + 1))![0];
  const bytes: number[] = [];
  let i = equals + 1;
  while (i < dn.length) {
    const c = dn[i]!;
    if (c === ',' || c === '+' || c === ';') break;
    if (c !== '\\') {
      const cp = dn.codePointAt(i)!;
      bytes.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const pair = dn.slice(i + 1, i + 3);
    if (/^[0-9A-Fa-f]{2}$/.test(pair)) {
      bytes.push(Number.parseInt(pair, 16));
      i += 3;
    } else if (i + 1 < dn.length) {
      const cp = dn.codePointAt(i + 1)!;
      bytes.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
      i += cp > 0xffff ? 3 : 2;
    } else {
      return undefined; // a DN may not end with a lone backslash
    }
  }
  const value = Buffer.from(bytes).toString('utf8');
  return value === '' ? undefined : value;
}
