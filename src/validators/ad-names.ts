/**
 * The three spellings of an Active Directory login (docs/active-directory.md, "Logins"):
 * `alice` (the sAMAccountName), `alice@corp.example.com` (a UPN, with the domain or one of
 * `activeDirectory.upnSuffixes`) and `CORP\alice` (the NetBIOS domain, or the DNS domain, then
 * the account). All three name one account, so they share one lockout counter
 * (src/security/canonical-username.ts) and one search.
 */

export interface AdDomainNames {
  /** DNS domain, e.g. `corp.example.com`. */
  readonly domain: string;
  /** NetBIOS domain, e.g. `CORP`; '' = `DOMAIN\user` is not accepted. */
  readonly netbiosDomain: string;
  readonly upnSuffixes: readonly string[];
}

/** A login read as an account of this domain. */
export interface AdLogin {
  /** The account part: the sAMAccountName to search (`{username}` in userSearchFilter). */
  readonly account: string;
  /** The UPN to search (`{upn}`): as typed, or the account at the domain. */
  readonly upn: string;
}

/**
 * Reads a login. `foreign` when it names another domain (`OTHER\alice`, `alice@other.org`):
 * not this directory's user. An empty account part (`CORP\`, `@corp.example.com`) is foreign
 * too: no account has an empty name.
 */
export function parseAdLogin(login: string, names: AdDomainNames): AdLogin | 'foreign' {
  const same = (a: string, b: string): boolean => a !== '' && a.toLowerCase() === b.toLowerCase();
  const slash = login.indexOf('\\');
  if (slash >= 0) {
    const domain = login.slice(0, slash);
    const account = login.slice(slash + 1);
    if (!(same(domain, names.netbiosDomain) || same(domain, names.domain)) || !validAccount(account)) return 'foreign';
    return { account, upn: `${account}@${names.domain}` };
  }
  const at = login.lastIndexOf('@');
  if (at >= 0) {
    const account = login.slice(0, at);
    const suffix = login.slice(at + 1);
    if (![names.domain, ...names.upnSuffixes].some((s) => same(suffix, s)) || !validAccount(account)) return 'foreign';
    return { account, upn: login };
  }
  return validAccount(login) ? { account: login, upn: `${login}@${names.domain}` } : 'foreign';
}

/** No account name is empty or holds another `\` or `@` (they are not allowed in sAMAccountName). */
function validAccount(account: string): boolean {
  return account !== '' && !account.includes('\\') && !account.includes('@');
}
