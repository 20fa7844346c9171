/**
 * The one spelling of a username (DESIGN §3 brute-force protection, §4 validators): every
 * spelling a user may type — `GINA`, `ｇｉｎａ` (full-width), `gina` — maps to one key, so
 * lockout counters and validator lookups cannot be sidestepped by changing the case or width.
 */

/**
 * Canonicalises a username: Unicode NFKC (compatibility forms such as full-width letters and
 * ligatures fold to their plain form), then lower-case unless `caseSensitive`.
 *
 * Lower-casing is Unicode's locale-independent `toLowerCase`, not full case folding (`ß` stays
 * `ß`). NFKC is applied again after lower-casing so the result is a fixed point:
 * `canonicalUsername(canonicalUsername(u, c), c) === canonicalUsername(u, c)`.
 * Whitespace is kept as it is: a username with spaces is a different username.
 *
 * @param username - The username as the client sent it.
 * @param caseSensitive - The validator's `caseSensitive` setting (default in config: false).
 * @returns The canonical form, used as a lookup and counter key only — never as the subject.
 */
export function canonicalUsername(username: string, caseSensitive: boolean): string {
  const normalised = username.normalize('NFKC');
  return caseSensitive ? normalised : normalised.toLowerCase().normalize('NFKC');
}
