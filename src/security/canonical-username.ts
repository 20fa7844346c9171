/**
 * The one spelling of a username (docs/security.md "Brute-force and enumeration protection", docs/validators.md): every
 * spelling a user may type — `GINA`, `ｇｉｎａ` (full-width), `gina` — maps to one key, so
 * lockout counters and validator lookups cannot be sidestepped by changing the case or width.
 */
import { parseAdLogin, type AdDomainNames } from '../validators/ad-names.js';

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

/** The Active Directory domains whose login spellings share a lockout counter, by owner. */
const adDomains = new Map<object, AdDomainNames>();

/**
 * Registers (or, with undefined, forgets) an Active Directory validator's domain names, so
 * that `CORP\alice`, `alice@corp.example.com` and `alice` get one lockout key
 * ({@link lockoutUsername}). Called by the LDAP validator in `directory: active-directory`
 * mode when it opens and closes (docs/active-directory.md, "Logins").
 */
export function registerAdDomain(owner: object, names: AdDomainNames | undefined): void {
  if (names) adDomains.set(owner, names);
  else adDomains.delete(owner);
}

/**
 * The name a lockout counter is keyed by: the canonical form (case-insensitive), with the
 * domain of a registered Active Directory domain's `DOMAIN\user` or `user@domain` spelling
 * removed. A name of no registered domain is its canonical form, so `alice@example.org` of a
 * users file keeps a counter of its own.
 */
export function lockoutUsername(username: string): string {
  const canonical = canonicalUsername(username, false);
  for (const names of adDomains.values()) {
    const login = parseAdLogin(canonical, names);
    if (login !== 'foreign') return login.account;
  }
  return canonical;
}
