/**
 * Header mutation on the resource path (DESIGN §3): strip every header the gateway owns or
 * that is hop-by-hop, then inject the trusted identity. Compiled once at startup.
 *
 * Stripped from every inbound request, in any case:
 * - the configured identity headers (`headers.identity`) and any `X-Auth-*` header;
 * - hop-by-hop headers and every header named in `Connection:` (RFC 9110 §7.6.1);
 * - `Authorization` when `headers.removeAuthorization` (the default);
 * - `Forwarded` and `X-Forwarded-*` unless `server.trustProxy` (then they are appended to);
 * - the `_` spellings of all of these and of `X-Forwarded-*`/`X-Request-Id` (see cgiName).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { GrantRecord } from '../tokens/types.js';

/** Who a request acts for: a token's record, or a Basic-bridge login (basic-bridge.ts). */
export type Identity = Pick<GrantRecord, 'sub' | 'clientId' | 'scope' | 'groups' | 'attributes'>;

// `expect` too: Node has already answered 100-continue to the client, so the body is coming
// anyway; forwarding the expectation would only make the upstream request wait for a 100.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'expect'];

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
  /** Whether the gateway owns this (lower-case) header name: identity headers and X-Auth-*. */
  owns(name: string): boolean;
}

type Field = (r: Identity) => string | undefined;

function fieldReader(field: string): Field {
  switch (field) {
    case 'sub':
      return (r) => r.sub;
    case 'client_id':
      return (r) => r.clientId;
    case 'scope':
      return (r) => r.scope.join(' ');
    case 'groups':
      return (r) => r.groups.join(',');
    default: {
      const name = field.slice('attributes.'.length);
      return (r) => r.attributes[name];
    }
  }
}

/**
 * A header name as CGI, WSGI and PHP upstreams read it: `X_Auth_Subject` and `X-Auth-Subject`
 * both become `HTTP_X_AUTH_SUBJECT`, so an underscore spelling of an owned header is stripped
 * like the header itself (CVE-2025-64484 in oauth2-proxy).
 */
function cgiName(name: string): string {
  return name.replace(/_/g, '-');
}

/** Header values must be visible ASCII; anything else is UTF-8 percent-encoded. */
export function headerValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

export function compileHeaderRules(options: {
  readonly identity: Readonly<Record<string, string>>;
  readonly removeAuthorization: boolean;
  readonly trustProxy: boolean;
}): HeaderRules {
  const injected = Object.entries(options.identity).map(([name, field]) => [name.toLowerCase(), fieldReader(field)] as const);
  const owned = new Set(injected.map(([name]) => name));
  const owns = (name: string): boolean => {
    const n = cgiName(name);
    return owned.has(n) || n.startsWith('x-auth-');
  };
  const values = (identity: Identity): [string, string][] => {
    const out: [string, string][] = [];
    for (const [name, read] of injected) {
      const value = read(identity);
      if (value !== undefined) out.push([name, headerValue(value)]);
    }
    return out;
  };
  const alwaysStrip = [...HOP_BY_HOP];
  if (options.removeAuthorization) alwaysStrip.push('authorization');
  if (!options.trustProxy) alwaysStrip.push('forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port');
  // Underscore spellings of the headers the gateway strips or sets, whatever trustProxy says.
  const managed = new Set([...alwaysStrip, 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-request-id']);

  return {
    scrub(headers, facts) {
      const connection = headers.connection;
      if (connection) {
        for (const name of connection.split(',')) {
          const n = name.trim().toLowerCase();
          if (n !== 'upgrade' || !facts.upgrade) delete headers[n];
        }
      }
      const upgrade = facts.upgrade ? headers.upgrade : undefined;
      for (const name of alwaysStrip) delete headers[name];
      for (const name of Object.keys(headers)) {
        if (owns(name) || (name.includes('_') && managed.has(cgiName(name)))) delete headers[name];
      }
      if (upgrade !== undefined) {
        headers.connection = 'upgrade';
        headers.upgrade = upgrade;
      }
      const priorFor = headers['x-forwarded-for'];
      headers['x-forwarded-for'] = priorFor ? `${priorFor}, ${facts.peerIp}` : facts.peerIp;
      headers['x-forwarded-proto'] ??= facts.proto;
      if (headers.host !== undefined) headers['x-forwarded-host'] ??= headers.host;
      headers['x-request-id'] = facts.requestId;
    },
    inject(headers, identity) {
      for (const [name, value] of values(identity)) headers[name] = value;
    },
    values,
    owns,
  };
}
