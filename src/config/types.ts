/** The loaded, validated configuration (see schema.ts and items.ts for every key's meaning). */

export interface ClientConfig {
  readonly id: string;
  /** argon2id/bcrypt hash; '' when the secret comes from secretFile or the client is public. */
  readonly secretHash: string;
  /** The plain secret read from secretFile (never logged); '' otherwise. */
  readonly secret: string;
  readonly public: boolean;
  readonly grantTypes: readonly string[];
  readonly scopes: readonly string[];
  readonly defaultScopes: readonly string[];
  /** Resolved chain: never empty after loading. */
  readonly validators: readonly string[];
  /** May introspect access tokens of every client (a resource server). */
  readonly introspectAnyToken: boolean;
}

interface ValidatorCommon {
  readonly name: string;
  readonly caseSensitive: boolean;
}

export interface FileValidatorConfig extends ValidatorCommon {
  readonly type: 'file';
  readonly path: string;
}

export interface LdapValidatorConfig extends ValidatorCommon {
  readonly type: 'ldap';
  readonly urls: readonly string[];
  readonly startTls: boolean;
  readonly tlsCaFile: string;
  readonly tlsRejectUnauthorized: boolean;
  readonly bindDn: string;
  /** From bindPassword or bindPasswordFile. */
  readonly bindPassword: string;
  readonly userSearchBase: string;
  readonly userSearchFilter: string;
  readonly userDnTemplate: string;
  readonly subjectAttribute: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly groups: {
    readonly memberOfAttribute: string;
    readonly searchBase: string;
    readonly searchFilter: string;
    readonly nameAttribute: string;
  };
  readonly groupScopes: Readonly<Record<string, readonly string[]>>;
  readonly disabledFilter: string;
  readonly timeoutMs: number;
  readonly poolSize: number;
}

export interface HttpValidatorConfig extends ValidatorCommon {
  readonly type: 'http';
  readonly url: string;
  readonly timeoutMs: number;
  readonly tlsCaFile: string;
  /** Static headers read from headersFile. */
  readonly headers: Readonly<Record<string, string>>;
  /** GET for health; '' = passive health from the last login call. */
  readonly healthUrl: string;
}

export type ValidatorConfig = FileValidatorConfig | LdapValidatorConfig | HttpValidatorConfig;

export interface RouteConfig {
  readonly path: string;
  readonly methods: readonly string[];
  readonly auth: 'bearer' | 'none' | 'bearer-or-basic';
  readonly scopes: readonly string[];
  readonly scopeMode: 'all' | 'any';
  readonly groups: readonly string[];
  readonly upstream: string;
  /** 0 = upstream.timeoutMs. */
  readonly upstreamTimeoutMs: number;
  /** Resolved path; '' = upstream.caFile. */
  readonly upstreamCaFile: string;
  readonly basicClient: string;
}

/** Where the decision endpoint reads the original request from (docs/routing.md). */
export type DecisionIngress = 'nginx' | 'traefik' | 'envoy';

export interface GatewayConfig {
  /** dev: `start-dev` (embedded defaults); production: `start --config`. */
  readonly mode: 'dev' | 'production';
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly tls: { readonly certFile: string; readonly keyFile: string };
    readonly trustProxy: boolean;
    readonly drainSeconds: number;
    readonly shutdownTimeoutSeconds: number;
    readonly limits: {
      readonly bodyBytes: number;
      readonly headersTimeoutMs: number;
      readonly requestTimeoutMs: number;
      readonly keepAliveTimeoutMs: number;
      readonly maxHeaderBytes: number;
    };
  };
  readonly admin: { readonly host: string; readonly port: number };
  readonly log: { readonly level: string; readonly requests: 'all' | 'errors' };
  readonly oauth: {
    readonly issuer: string;
    readonly realm: string;
    readonly paths: { readonly token: string; readonly revocation: string; readonly introspection: string; readonly metadata: string };
    readonly accessTokenTtl: number;
    readonly refreshTokenTtl: number;
    readonly refreshRotation: boolean;
    readonly clientAuthCacheSeconds: number;
  };
  readonly clients: readonly ClientConfig[];
  readonly validators: readonly ValidatorConfig[];
  readonly store: {
    readonly type: 'redis' | 'memory';
    readonly redis: {
      readonly url: string;
      readonly sentinels: readonly string[];
      readonly sentinelName: string;
      /** From sentinelPassword or sentinelPasswordFile. */
      readonly sentinelPassword: string;
      readonly cluster: readonly string[];
      readonly username: string;
      readonly password: string;
      readonly tls: boolean;
      readonly tlsCaFile: string;
      readonly keyPrefix: string;
      readonly commandTimeoutMs: number;
      readonly connectTimeoutMs: number;
    };
    readonly cacheTtlMs: number;
  };
  readonly upstream: { readonly url: string; readonly timeoutMs: number; readonly caFile: string; readonly maxSockets: number; readonly engine: 'undici' | 'http-proxy' };
  readonly routes: readonly RouteConfig[];
  readonly decision: { readonly enabled: boolean; readonly path: string; readonly ingress: DecisionIngress };
  readonly basicBridge: { readonly cacheSeconds: number };
  readonly headers: {
    readonly removeAuthorization: boolean;
    readonly identity: Readonly<Record<string, string>>;
    readonly passThrough: readonly string[];
    readonly assertion: {
      readonly enabled: boolean;
      readonly header: string;
      /** Resolved path; '' = a key generated at start. */
      readonly keyFile: string;
      readonly audience: string;
      readonly ttlSeconds: number;
    };
  };
  readonly lockout: {
    readonly maxFailures: number;
    readonly lockSeconds: number;
    readonly maxLockSeconds: number;
    readonly ipMaxFailuresPerMinute: number;
    readonly failureResetSeconds: number;
  };
}
