/**
 * Fields of list items (clients[], validators[], routes[]): convict validates the scalar tree,
 * these specs validate each item, apply defaults and feed the generated docs. Each problem is
 * reported as one line naming the item, e.g. `clients[0].scopes: must be a list of strings`.
 */
import { isPlainObject } from './formats.js';

export type FieldType = 'string' | 'boolean' | 'integer' | 'string-list' | 'string-map' | 'string-list-map' | 'object';

export interface FieldSpec {
  readonly doc: string;
  readonly type: FieldType;
  readonly default?: unknown;
  readonly required?: boolean;
  readonly sensitive?: boolean;
  /** Allowed values (for strings, or each element of a string list). */
  readonly oneOf?: readonly string[];
  /** Nested fields, for type 'object'. */
  readonly fields?: ItemSpec;
  readonly min?: number;
}
export type ItemSpec = Readonly<Record<string, FieldSpec>>;

export const clientSpec = {
  id: { doc: 'client_id.', type: 'string', required: true },
  secretHash: {
    doc: 'argon2id or bcrypt hash of the client secret (`ropc-gateway hash-secret`).',
    type: 'string',
    default: '',
    sensitive: true,
  },
  secretFile: {
    doc: 'File holding the plain client secret (a Kubernetes secret mount); trailing newline ignored.',
    type: 'string',
    default: '',
  },
  secondarySecretHashes: {
    doc: 'Secret rotation: argon2id or bcrypt hashes of further secrets the client may also authenticate with (at most 4), each until its secondarySecretsNotAfter. The log and ropc_client_secret_matches_total name the secret that matched by index: 0 is secretHash/secretFile, 1 the first of these. See docs/operations.md, "Client secret rotation".',
    type: 'string-list',
    default: [],
    sensitive: true,
  },
  secondarySecretsNotAfter: {
    doc: "ISO 8601 instants (e.g. 2026-03-01T00:00:00Z), one per secondarySecretHashes entry in the same order: that secret is refused from then on. Missing or '' = no expiry.",
    type: 'string-list',
    default: [],
  },
  public: { doc: 'A public client (no secret; token endpoint auth method `none`).', type: 'boolean', default: false },
  grantTypes: {
    doc: 'Grant types the client may use.',
    type: 'string-list',
    default: ['password', 'refresh_token'],
    oneOf: ['password', 'refresh_token'],
  },
  scopes: {
    doc: 'Scopes the client may request: its ceiling. A scope that any validator\'s groupScopes names is granted only to members of a group mapped to it (docs/validators.md, "Scopes and groups").',
    type: 'string-list',
    default: [],
  },
  defaultScopes: {
    doc: 'Scopes granted when the request names none (those the user may have). Empty: a password grant without `scope` is refused with invalid_scope (RFC 6749 §3.3).',
    type: 'string-list',
    default: [],
  },
  validators: {
    doc: 'Ordered password credential validator chain (names); empty = every validator in configuration order.',
    type: 'string-list',
    default: [],
  },
  validatorChainMode: {
    doc: "first-known: the first validator that knows the username answers (a wrong password stops the chain; only an unknown user goes on). any: every refusal tries the next validator (PingFederate's behaviour).",
    type: 'string',
    default: 'first-known',
    oneOf: ['first-known', 'any'],
  },
  accessTokenFormat: {
    doc: "Format of this client's access tokens: opaque, jwt (RFC 9068, docs/token-formats.md), or '' for oauth.accessTokenFormat.",
    type: 'string',
    default: '',
    oneOf: ['', 'opaque', 'jwt'],
  },
  audience: {
    doc: "The aud of this client's JWT access tokens (the resource servers that verify them). Empty: oauth.audience. The gateway's own resource path accepts a JWT only when its aud includes oauth.audience.",
    type: 'string-list',
    default: [],
  },
  signingAlgorithm: {
    doc: "Algorithm of this client's JWT access tokens and ID tokens: ES256, or RS256 for verifiers that lack it (needs an RSA key in oauth.signing.keyFiles, or generated keys).",
    type: 'string',
    default: 'ES256',
    oneOf: ['ES256', 'RS256'],
  },
  introspectAnyToken: {
    doc: 'May introspect (RFC 7662) access tokens issued to any client, as a resource server does; otherwise a client introspects only its own tokens and others answer {"active":false}. Refresh tokens are only ever active to their own client. Public clients may not introspect.',
    type: 'boolean',
    default: false,
  },
} as const satisfies ItemSpec;

const commonValidator = {
  name: { doc: 'Name the clients use to refer to this validator.', type: 'string', required: true },
  type: { doc: 'Validator kind.', type: 'string', required: true, oneOf: ['file', 'ldap', 'http'] },
  caseSensitive: {
    doc: 'Compare usernames case-sensitively (default: usernames are case-insensitive, as in LDAP).',
    type: 'boolean',
    default: false,
  },
  subjectPrefix: {
    doc: "Prepended to the subject (sub) of this validator's users, e.g. `ldap:` gives `ldap:jdoe`, so the upstream and `revoke --subject` can tell the same name from two validators apart. Letters, digits and `.:_@/-`.",
    type: 'string',
    default: '',
  },
  groupScopes: {
    doc: 'Group name (ignoring case) -> scopes. A scope named here, by any validator, is granted only to members of a group mapped to it, and only by a client that lists it in scopes.',
    type: 'string-list-map',
    default: {},
  },
} as const satisfies ItemSpec;

/** One spec per validator `type`; the loaded types are derived from them (types.ts). */
export const validatorSpecs = {
  file: {
    ...commonValidator,
    path: {
      doc: 'YAML users file: `users: [{username, passwordHash, groups, attributes}]`; re-read when it changes.',
      type: 'string',
      required: true,
    },
  },
  ldap: {
    ...commonValidator,
    urls: { doc: 'LDAP server URLs (ldap:// or ldaps://), tried in order.', type: 'string-list', required: true },
    startTls: { doc: 'Upgrade ldap:// connections with StartTLS.', type: 'boolean', default: false },
    tlsCaFile: { doc: 'PEM CA bundle to verify the directory certificate.', type: 'string', default: '' },
    tlsRejectUnauthorized: { doc: 'Verify the directory certificate (turn off only for tests).', type: 'boolean', default: true },
    bindDn: { doc: 'Service account DN for search-then-bind.', type: 'string', default: '' },
    bindPassword: { doc: 'Service account password (prefer bindPasswordFile).', type: 'string', default: '', sensitive: true },
    bindPasswordFile: { doc: 'File holding the service account password.', type: 'string', default: '' },
    userSearchBase: {
      doc: 'Base DN of the user search (search-then-bind); also where refreshes re-check the subject.',
      type: 'string',
      default: '',
    },
    userSearchFilter: { doc: 'User search filter; {username} is escaped per RFC 4515.', type: 'string', default: '(uid={username})' },
    userDnTemplate: {
      doc: "Direct bind instead of search: DN template, {username} escaped per RFC 4514; the entry and groups are then read with the user's own bind.",
      type: 'string',
      default: '',
    },
    subjectAttribute: { doc: 'Attribute that becomes the subject (sub).', type: 'string', default: 'uid' },
    attributes: { doc: 'Principal attribute -> LDAP attribute.', type: 'string-map', default: {} },
    groups: {
      doc: 'Where groups come from: memberOfAttribute (group names are the first RDN value of each DN), or a group search (searchBase); neither = no groups.',
      type: 'object',
      default: { memberOfAttribute: '', searchBase: '', searchFilter: '(member={dn})', nameAttribute: 'cn', nested: false },
      fields: {
        memberOfAttribute: { doc: 'Attribute of the user entry listing group DNs (e.g. memberOf).', type: 'string', default: '' },
        searchBase: { doc: 'Base DN of a group search.', type: 'string', default: '' },
        searchFilter: { doc: 'Group search filter; {dn} and {username} are escaped.', type: 'string', default: '(member={dn})' },
        nameAttribute: { doc: 'Attribute naming a group.', type: 'string', default: 'cn' },
        nested: {
          doc: 'With directory: active-directory, a group search also finds the groups of groups (LDAP_MATCHING_RULE_IN_CHAIN, 1.2.840.113556.1.4.1941): the default searchFilter becomes (member:1.2.840.113556.1.4.1941:={dn}). With a searchFilter of your own, write the matching rule into it instead. docs/active-directory.md.',
          type: 'boolean',
          default: false,
        },
      },
    },
    directory: {
      doc: 'What the directory is: openldap (any LDAPv3 directory) or active-directory (Active Directory or Samba AD: DOMAIN\\user and UPN logins, bind sub-codes, userAccountControl, objectGUID/objectSid, unicodePwd password change; AD defaults for userSearchFilter and subjectAttribute while those are at their defaults, and for an empty disabledFilter). docs/active-directory.md.',
      type: 'string',
      default: 'openldap',
      oneOf: ['openldap', 'active-directory'],
    },
    activeDirectory: {
      doc: 'Settings for directory: active-directory (docs/active-directory.md).',
      type: 'object',
      default: { domain: '', netbiosDomain: '', upnSuffixes: [], discovery: 'off' },
      fields: {
        domain: {
          doc: 'The DNS domain (e.g. corp.example.com): the UPN suffix of user@domain logins, and where discovery looks up _ldap._tcp SRV records. Required with directory: active-directory.',
          type: 'string',
          default: '',
        },
        netbiosDomain: {
          doc: 'The NetBIOS domain name (e.g. CORP) accepted in DOMAIN\\user logins; empty = DOMAIN\\user logins are not accepted.',
          type: 'string',
          default: '',
        },
        upnSuffixes: { doc: 'Further UPN suffixes accepted in user@suffix logins, besides domain.', type: 'string-list', default: [] },
        discovery: {
          doc: 'Domain controller discovery from the _ldap._tcp.<domain> SRV records (RFC 2782 priority and weight), tried before urls: off; ldaps (each target on port 636); ldap (each target on its SRV port, with startTls as set).',
          type: 'string',
          default: 'off',
          oneOf: ['off', 'ldaps', 'ldap'],
        },
      },
    },
    disabledFilter: {
      doc: 'Filter matching disabled entries, checked at login and refresh, e.g. (nsAccountLock=TRUE).',
      type: 'string',
      default: '',
    },
    timeoutMs: { doc: 'Connect and operation timeout (ms), per URL tried and per operation.', type: 'integer', default: 5000, min: 1 },
    poolSize: {
      doc: 'Service-account connections kept open for searches, and as many kept open for user binds.',
      type: 'integer',
      default: 4,
      min: 1,
    },
    reveal: {
      doc: 'What a client may learn of a directory account state (docs/validators.md, "Directory states"): none = every refusal is the same invalid_grant and no expiry warning is returned; after-correct-password = once the directory proved the password correct, a refusal carries the state (e.g. "reason":"password_expired") and a success its expiry warnings. A wrong password, an unknown user and a directory lock always answer alike.',
      type: 'string',
      default: 'none',
      oneOf: ['none', 'after-correct-password'],
    },
    passwordChangeWithoutTls: {
      doc: 'Let the password change endpoint change passwords over a plain ldap:// connection without startTls (both passwords cross the network in clear). For tests only; refused otherwise.',
      type: 'boolean',
      default: false,
    },
  },
  http: {
    ...commonValidator,
    url: { doc: 'URL the credentials are POSTed to as JSON {username, password}.', type: 'string', required: true },
    timeoutMs: { doc: 'Request timeout.', type: 'integer', default: 5000, min: 1 },
    tlsCaFile: { doc: 'PEM CA bundle to verify the service certificate.', type: 'string', default: '' },
    headersFile: { doc: 'YAML/JSON file of static headers to send (e.g. an API key), read at startup.', type: 'string', default: '' },
    healthUrl: {
      doc: 'URL for /readyz to GET (2xx = up); empty: up unless the last login call failed with an outage.',
      type: 'string',
      default: '',
    },
  },
} as const satisfies Readonly<Record<string, ItemSpec>>;

/** The validator specs by a type name read from a file (undefined for an unknown type). */
export const validatorSpecByType: Readonly<Record<string, ItemSpec | undefined>> = validatorSpecs;

export const routeSpec = {
  path: {
    doc: 'Exact path, or a glob: `*` matches within one segment, `**` (a whole segment) any number of segments; a trailing `/**` also matches the bare prefix. Matched against the canonical request path (docs/routing.md), ignoring case unless server.caseSensitivePaths; write it in canonical form.',
    type: 'string',
    required: true,
  },
  methods: { doc: 'HTTP methods the rule applies to (empty = all).', type: 'string-list', default: [] },
  auth: {
    doc: 'bearer (a valid token), none (public), or bearer-or-basic (also HTTP Basic user credentials).',
    type: 'string',
    default: 'bearer',
    oneOf: ['bearer', 'none', 'bearer-or-basic'],
  },
  scopes: { doc: 'Scopes the token must carry.', type: 'string-list', default: [] },
  scopeMode: { doc: 'all: every scope is required; any: one of them suffices.', type: 'string', default: 'all', oneOf: ['all', 'any'] },
  groups: { doc: 'The principal must be in one of these groups.', type: 'string-list', default: [] },
  upstream: {
    doc: 'Upstream URL for this route (default: upstream.url); http:// or https://, without credentials, query or fragment. Its path is prepended to the request path.',
    type: 'string',
    default: '',
  },
  upstreamTimeoutMs: {
    doc: "Time this route's upstream has to start its answer (504 after it); 0 = upstream.timeoutMs.",
    type: 'integer',
    default: 0,
  },
  upstreamCaFile: {
    doc: "PEM CA bundle to verify this route's https upstream (default: upstream.caFile, else the system CAs). Verification is always on.",
    type: 'string',
    default: '',
  },
  pathParameters: {
    doc: 'refuse: a request with a ";" path parameter (/a;x=1/b) gets 400 on this rule. allow: it is accepted (e.g. Tomcat\'s ;jsessionid) and forwarded as sent, but only when the rule matched by the path with every ";…" parameter stripped (as Tomcat reads it) also allows it, and the request satisfies both rules. Dot-segments before a ";" (/..;/) are refused either way.',
    type: 'string',
    default: 'refuse',
    oneOf: ['refuse', 'allow'],
  },
  basicClient: {
    doc: 'For bearer-or-basic: the client whose validator chain checks Basic credentials; the identity carries its client_id and its defaultScopes (or all its scopes when defaultScopes is empty).',
    type: 'string',
    default: '',
  },
} as const satisfies ItemSpec;

/** Checks one item against its spec; pushes problems and returns the item with defaults applied. */
export function checkItem(spec: ItemSpec, value: unknown, where: string, problems: string[]): Record<string, unknown> {
  if (!isPlainObject(value)) {
    problems.push(`${where}: must be a map of keys to values`);
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (!(key in spec)) problems.push(`${where}.${key}: unknown key (not in the schema)`);
  }
  for (const [key, field] of Object.entries(spec)) {
    const v = value[key];
    if (v === undefined || v === null) {
      if (field.required) problems.push(`${where}.${key}: is required`);
      out[key] = structuredClone(field.default);
      continue;
    }
    const problem = checkField(field, v);
    if (problem) problems.push(`${where}.${key}: ${problem}${wrongType(field, v) ? `: value was ${JSON.stringify(v)}` : ''}`);
    out[key] = field.type === 'object' && field.fields ? checkItem(field.fields, v, `${where}.${key}`, problems) : v;
  }
  return out;
}

/** Say what was given when a scalar of the wrong kind (`timeoutMs: "2s"`) was refused; never for secrets. */
function wrongType(field: FieldSpec, v: unknown): boolean {
  if (field.sensitive || (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) return false;
  return field.type === 'integer' || field.type === 'boolean' || (field.type === 'string' && typeof v !== 'string');
}

function checkField(field: FieldSpec, v: unknown): string | null {
  const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
  switch (field.type) {
    case 'string':
      if (typeof v !== 'string') return 'must be a string';
      if (field.required && v === '') return 'must not be empty';
      if (field.oneOf && !field.oneOf.includes(v)) return `must be one of ${field.oneOf.join(', ')}`;
      return null;
    case 'boolean':
      return typeof v === 'boolean' ? null : 'must be true or false';
    case 'integer':
      return Number.isInteger(v) && (v as number) >= (field.min ?? 0) ? null : `must be a whole number of at least ${field.min ?? 0}`;
    case 'string-list': {
      if (!strings(v)) return 'must be a list of strings';
      const bad = field.oneOf ? v.filter((s) => !field.oneOf?.includes(s)) : [];
      if (bad.length) return `unknown value ${bad.map((b) => JSON.stringify(b)).join(', ')} (allowed: ${field.oneOf?.join(', ')})`;
      if (field.required && v.length === 0) return 'must name at least one value';
      return null;
    }
    case 'string-map':
      return isPlainObject(v) && Object.values(v).every((s) => typeof s === 'string') ? null : 'must be a map of names to strings';
    case 'string-list-map':
      return isPlainObject(v) && Object.values(v).every(strings) ? null : 'must be a map of names to lists of strings';
    case 'object':
      return isPlainObject(v) ? null : 'must be a map of keys to values';
  }
}
