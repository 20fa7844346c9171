/**
 * Header mutation on the resource path (docs/routing.md "Headers", docs/security.md): strip
 * every header the gateway owns, every header an upstream could take as identity, client
 * address or an override of the method or URL, and every hop-by-hop header; then inject the
 * trusted identity. Compiled once at startup.
 *
 * Stripped from every inbound request — HTTP, WebSocket, Basic bridge, public routes — in any
 * case, and with `_` read as `-` (CGI, WSGI and PHP upstreams read `X_Auth_Subject` and
 * `X-Auth-Subject` as the same `HTTP_X_AUTH_SUBJECT`, CVE-2025-64484 in oauth2-proxy):
 * - the configured identity headers (`headers.identity`), any `X-Auth-*`, and the assertion
 *   header (`headers.assertion.header`);
 * - {@link STRIPPED_NAMES} and every name starting with one of {@link STRIPPED_PREFIXES},
 *   unless named in `headers.passThrough` (then that exact spelling, not its `_` one, passes);
 *   with `server.trustProxy`, `X-Forwarded-For/-Proto/-Host/-Port` are kept and appended to;
 * - hop-by-hop headers and every header named in `Connection:` (RFC 9110 §7.6.1);
 * - `Authorization` when `headers.removeAuthorization` (the default).
 *
 * Identity values are encoded by {@link encodeHeaderValue}, list fields element by element.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { GrantRecord } from '../tokens/types.js';
import { FRAMING, HOP_BY_HOP } from '../http/hop-by-hop.js';

/** Who a request acts for: a token's record, or a Basic-bridge login (basic-bridge.ts). */
export type Identity = Pick<GrantRecord, 'sub' | 'clientId' | 'scope' | 'groups' | 'attributes'>;

/** Names a client's `Connection` header cannot remove (scrub, below). */
const KEPT_WHEN_NAMED: ReadonlySet<string> = new Set([...FRAMING, 'content-length', 'host']);
/**
 * Always removed from the inbound request: the hop-by-hop headers but the framing (RFC 9110
 * §7.6.1; the forwarder frames the upstream request from it), `proxy-authorization` (the
 * client's credentials for a proxy in front, never the upstream's) and `expect` (the gateway
 * answers 100-continue itself, continue.ts; forwarding the expectation would only make the
 * upstream request wait for a 100).
 */
const REMOVED = [...HOP_BY_HOP.filter((n) => !FRAMING.includes(n)), 'proxy-authorization', 'expect'];

/** The forwarding headers the gateway sets itself; kept from a trusted proxy with `server.trustProxy`. */
export const FORWARDING = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port'];

/**
 * Exact names (lower-case, `-` spelling) that upstreams and the auth proxies in front of them
 * (oauth2-proxy, Pomerium, Authelia, Kong, Apache/nginx setups, Tomcat valves) take as the
 * user, the client address, or an override of the request's method or URL.
 */
export const STRIPPED_NAMES = [
  'forwarded',
  // the user (Apache/nginx `RequestHeader set`, oauth2-proxy, lua-resty-openidc, WSO2, …)
  'x-user',
  'x-email',
  'x-username',
  'x-preferred-username',
  'x-groups',
  'x-roles',
  'x-access-token',
  'x-id-token',
  'x-userinfo',
  'x-jwt-assertion',
  'x-goog-iap-jwt-assertion',
  'gap-auth',
  'gap-signature',
  'x-client-cert',
  'x-client-verify',
  'x-client-dn',
  // the client address
  'x-real-ip',
  'true-client-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  // method and URL overrides (Rails, Laravel, Symfony, ASP.NET, IIS URL Rewrite)
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-rewrite-url',
];

/** Name prefixes (lower-case, `-` spelling) stripped like {@link STRIPPED_NAMES}. */
export const STRIPPED_PREFIXES = [
  'x-forwarded-', // -user, -email, -groups, -preferred-username, -access-token, -prefix, -ssl, -uri, -method, -client-cert…
  'x-original-', // -uri, -method, -url (IIS, Symfony), -host, -forwarded-for (ingress-nginx)
  'x-remote-', // -user, -group, -extra-* (Kubernetes authenticating proxy)
  'remote-', // -user, -groups, -email, -name (Authelia)
  'x-user-', // -id, -email, -name, -groups
  'x-auth-request-', // oauth2-proxy's auth_request answers (also covered by x-auth-)
  'x-pomerium-',
  'x-authentik-',
  'x-vouch-',
  'x-webauth-', // Grafana's auth proxy
  'cf-access-', // Cloudflare Access
  'x-amzn-oidc-', // AWS ALB
  'x-goog-authenticated-user-', // Google IAP
  'x-ms-client-principal', // Azure App Service authentication (-name, -id, -idp)
  'x-ms-token-',
  'oidc-', // Apache mod_auth_openidc (OIDC_CLAIM_*, OIDC_access_token)
  'x-consumer-', // Kong
  'x-credential-',
  'x-authenticated-',
  'x-ssl-', // client certificates passed by a TLS terminator
  'ssl-', // Tomcat SSLValve (ssl_client_cert, ssl_cipher, ssl_session_id), ingress-nginx ssl-client-*
  'x-envoy-', // Envoy obeys these from a client unless it is configured as the edge
];

export interface ForwardFacts {
  /** The address of the immediate peer (appended to X-Forwarded-For). */
  readonly peerIp: string;
  readonly proto: 'http' | 'https';
  readonly requestId: string;
  /** Keep `Upgrade`/`Connection: upgrade` (WebSocket). */
  readonly upgrade: boolean;
}

export interface HeaderRules {
  /** Removes spoofable and hop-by-hop headers, sets X-Forwarded-* and X-Request-Id; in place. */
  scrub(headers: IncomingHttpHeaders, facts: ForwardFacts): void;
  /** Adds the identity headers of a token's record (or a Basic login); in place. */
  inject(headers: IncomingHttpHeaders, identity: Identity): void;
  /** The identity headers for `identity`, lower-case names (decision endpoint answers). */
  values(identity: Identity): [name: string, value: string][];
  /** Whether the gateway owns this (lower-case) header name: identity headers, X-Auth-*, the assertion header. */
  owns(name: string): boolean;
  /**
   * Whether {@link HeaderRules.scrub} removes this (lower-case) inbound header as identity,
   * address or override: what is owned, {@link STRIPPED_NAMES}, {@link STRIPPED_PREFIXES}
   * (minus passThrough and, with trustProxy, the forwarding headers). Hop-by-hop and
   * Authorization are not included.
   */
  strips(name: string): boolean;
}

type Field = (r: Identity) => string | undefined;

function fieldReader(field: string): Field {
  switch (field) {
    case 'sub':
      return (r) => encodeHeaderValue(r.sub);
    case 'client_id':
      return (r) => encodeHeaderValue(r.clientId);
    case 'scope':
      // RFC 6749 §3.3: scope tokens hold no space, so the space separates them unambiguously.
      return (r) => r.scope.map(encodeHeaderValue).join(' ');
    case 'groups':
      return (r) => r.groups.map(encodeHeaderValue).join(',');
    default: {
      const name = field.slice('attributes.'.length);
      return (r) => {
        const value = r.attributes[name];
        return value === undefined ? undefined : encodeHeaderValue(value);
      };
    }
  }
}

/**
 * A header name as CGI, WSGI and PHP upstreams read it: `X_Auth_Subject` and `X-Auth-Subject`
 * both become `HTTP_X_AUTH_SUBJECT`, so an underscore spelling of a stripped header is
 * stripped like the header itself (CVE-2025-64484 in oauth2-proxy).
 */
export function cgiName(name: string): string {
  return name.toLowerCase().replace(/_/g, '-');
}

const HEX = '0123456789ABCDEF';

/** How many header names' strip verdicts compileHeaderRules remembers. */
const STRIP_VERDICTS = 1024;

/**
 * The one encoding of identity header values (docs/routing.md "Identity header values"): the
 * UTF-8 bytes of the value, each byte outside visible ASCII (`!`…`~`), and every `%` and `,`,
 * written as `%XX` (upper-case hex); every other byte as itself. Decoding (`%XX` → byte, then
 * UTF-8, e.g. `decodeURIComponent`) is unique: `björn` is `bj%C3%B6rn`, and `bj%C3%B6rn` is
 * `bj%25C3%25B6rn`. List fields encode each element, then join (groups with `,`, scope with
 * a space), so an element never splits.
 */
export function encodeHeaderValue(value: string): string {
  if (/^[!-$&-+\--~]*$/.test(value)) return value; // visible ASCII without % and ,: the common case
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte > 0x20 && byte < 0x7f && byte !== 0x25 && byte !== 0x2c ? String.fromCharCode(byte) : `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return out;
}

export function compileHeaderRules(options: {
  readonly identity: Readonly<Record<string, string>>;
  readonly removeAuthorization: boolean;
  readonly trustProxy: boolean;
  /** `headers.passThrough`: stripped names let through (exact spelling, any case). */
  readonly passThrough?: readonly string[];
  /** `headers.assertion.header` when the assertion is on: owned like an identity header. */
  readonly assertionHeader?: string;
}): HeaderRules {
  const injected = Object.entries(options.identity).map(([name, field]) => [name.toLowerCase(), fieldReader(field)] as const);
  const owned = new Set(injected.map(([name]) => name));
  if (options.assertionHeader) owned.add(options.assertionHeader.toLowerCase());
  const owns = (name: string): boolean => {
    const n = cgiName(name);
    return owned.has(n) || n.startsWith('x-auth-');
  };
  const names = new Set(STRIPPED_NAMES);
  const passed = new Set((options.passThrough ?? []).map((n) => n.toLowerCase()));
  const trusted = new Set(options.trustProxy ? FORWARDING : []);
  const strips = (name: string): boolean => {
    const n = cgiName(name);
    if (owns(n)) return true;
    // passThrough and trusted forwarding headers pass in their exact spelling only, never as `_`.
    const underscore = name.includes('_');
    if (!underscore && (passed.has(name) || trusted.has(name))) return false;
    if (underscore && (FORWARDING.includes(n) || n === 'x-request-id')) return true;
    return names.has(n) || STRIPPED_PREFIXES.some((p) => n.startsWith(p));
  };
  const values = (identity: Identity): [string, string][] => {
    const out: [string, string][] = [];
    for (const [name, read] of injected) {
      const value = read(identity);
      if (value !== undefined) out.push([name, value]);
    }
    return out;
  };
  // Header names repeat from request to request: each name's verdict is computed once (up to
  // STRIP_VERDICTS names; names beyond that, e.g. a client inventing new ones, are judged anew).
  const verdicts = new Map<string, boolean>();
  const stripsCached = (name: string): boolean => {
    let verdict = verdicts.get(name);
    if (verdict === undefined) {
      verdict = strips(name);
      if (verdicts.size < STRIP_VERDICTS) verdicts.set(name, verdict);
    }
    return verdict;
  };
  const alwaysStrip = [...REMOVED];
  if (options.removeAuthorization) alwaysStrip.push('authorization');

  return {
    scrub(headers, facts) {
      const connection = headers.connection;
      if (connection) {
        for (const name of connection.split(',')) {
          const n = name.trim().toLowerCase();
          // The message's framing is never a connection option (RFC 9110 §7.6.1: a sender must
          // not name a field meant for every recipient): dropping Content-Length or
          // Transfer-Encoding because a client named them would send its body to the upstream
          // unframed, read there as a second request (smuggling). Host stays too.
          if (KEPT_WHEN_NAMED.has(n)) continue;
          if (n !== 'upgrade' || !facts.upgrade) delete headers[n];
        }
      }
      const upgrade = facts.upgrade ? headers.upgrade : undefined;
      for (const name of alwaysStrip) delete headers[name];
      for (const name of Object.keys(headers)) if (stripsCached(name)) delete headers[name];
      if (upgrade !== undefined) {
        headers.connection = 'upgrade';
        headers.upgrade = upgrade;
      }
      const priorFor = trusted.size ? headers['x-forwarded-for'] : undefined;
      headers['x-forwarded-for'] = priorFor ? `${priorFor}, ${facts.peerIp}` : facts.peerIp;
      if (!trusted.size || headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = facts.proto;
      if (headers.host !== undefined && (!trusted.size || headers['x-forwarded-host'] === undefined))
        headers['x-forwarded-host'] = headers.host;
      headers['x-request-id'] = facts.requestId;
    },
    inject(headers, identity) {
      for (const [name, value] of values(identity)) headers[name] = value;
    },
    values,
    owns,
    strips,
  };
}
