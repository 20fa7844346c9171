/**
 * OpenID Connect standard claims (OIDC Core §5.1) from a principal's attributes, by scope
 * (§5.4), for ID tokens and the UserInfo endpoint (docs/token-formats.md, "OpenID Connect").
 *
 * A claim is released when its scope was granted and the validator gave the user an attribute
 * of exactly the claim's name (LDAP: `attributes: {email: mail, name: displayName, …}`).
 * Attributes are strings: `email_verified` and `phone_number_verified` become booleans
 * ("true"/"false"), `updated_at` a number; an attribute that does not read as its type is left out.
 */
export const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
};

const BOOLEAN = new Set(['email_verified', 'phone_number_verified']);

/** Every claim some scope may release (for `claims_supported`), with `sub`. */
export const SUPPORTED_CLAIMS: readonly string[] = ['sub', ...Object.values(SCOPE_CLAIMS).flat()];

export function scopedClaims(
  scope: readonly string[],
  attributes: Readonly<Record<string, string>>,
): Record<string, string | boolean | number> {
  const claims: Record<string, string | boolean | number> = {};
  for (const s of scope) {
    for (const name of SCOPE_CLAIMS[s] ?? []) {
      const value = attributes[name];
      if (value === undefined) continue;
      if (BOOLEAN.has(name)) {
        if (value === 'true' || value === 'false') claims[name] = value === 'true';
      } else if (name === 'updated_at') {
        if (/^\d{1,12}$/.test(value)) claims[name] = Number(value);
      } else {
        claims[name] = value;
      }
    }
  }
  return claims;
}
