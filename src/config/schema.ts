/**
 * The configuration schema (docs/configuration.md): the single source of truth for keys, defaults,
 * formats, environment variables and docs. `docs/configuration.md` is generated from it
 * (`npm run docs:config`). Every scalar key has an environment variable `ROPC_<PATH>`
 * (added by `load.ts`); list items (clients, validators, routes) are described in `items.ts`.
 */
export const schema = {
  server: {
    host: { doc: 'Address the public listener binds to.', format: 'string', default: '0.0.0.0' },
    port: { doc: 'Port of the public listener (token endpoint, OAuth endpoints and the protected proxy).', format: 'port', default: 9031 },
    tls: {
      certFile: {
        doc: 'PEM certificate chain for TLS on the public port; TLS is on when this and keyFile are set.',
        format: 'string',
        default: '',
      },
      keyFile: { doc: 'PEM private key for TLS on the public port.', format: 'string', default: '' },
    },
    trustProxy: {
      doc: 'Trust X-Forwarded-For from the peer: use its first address as the client IP (a port, IPv6 brackets and a zone id dropped, IPv6 in its compressed lower-case form and IPv4-mapped IPv6 as IPv4, so one client is one IP however it is spelled; a first element that is no address counts as the peer) and append to it upstream. Off: the socket address is the client IP and inbound X-Forwarded-* are replaced.',
      format: 'boolean',
      default: false,
    },
    caseSensitivePaths: {
      doc: "Match route rules case-sensitively. Off (the default): /ADMIN/x matches the rule /admin/**, because case-insensitive upstreams (IIS, ASP.NET, Express's default router, Spring with some settings) serve it as /admin/x; the request must then also satisfy the rule its exact case matches, and the path goes upstream in the client's case. Turn on only when every upstream is case-sensitive.",
      format: 'boolean',
      default: false,
    },
    workers: {
      doc: 'Worker processes serving the public port (node:cluster; docs/deployment.md, "Workers"): a number, or auto for the CPUs this process may use (the container\'s CPU limit, rounded down, at least 1). Above 1 the supervisor restarts a dead worker, drains every worker on SIGTERM, forwards SIGHUP, and serves the admin port itself with the metrics of all workers summed. Requires store.type redis. Per-process limits (server.limits.connectionsPerIp, upstream.maxConcurrentPer*, security.hashConcurrency) apply to each worker.',
      format: 'workers',
      default: 1,
    },
    drainSeconds: {
      doc: 'On SIGTERM: seconds during which /readyz already answers 503 but new requests are still served, before the listeners close.',
      format: 'non-negative-int',
      default: 5,
    },
    shutdownTimeoutSeconds: {
      doc: "On SIGTERM, after drainSeconds: how long in-flight requests may still take before their connections are cut. Keep drainSeconds + shutdownTimeoutSeconds below the pod's terminationGracePeriodSeconds.",
      format: 'non-negative-int',
      default: 20,
    },
    limits: {
      bodyBytes: {
        doc: 'Largest request body accepted by the OAuth endpoints (413 above it). The proxy streams bodies without a limit.',
        format: 'positive-int',
        default: 16384,
      },
      headersTimeoutMs: { doc: 'Time a client has to send the complete request headers.', format: 'positive-int', default: 10000 },
      requestTimeoutMs: {
        doc: 'Time a client has to send the complete request (headers and body).',
        format: 'positive-int',
        default: 30000,
      },
      keepAliveTimeoutMs: { doc: 'How long an idle client keep-alive connection is kept open.', format: 'positive-int', default: 5000 },
      maxHeaderBytes: { doc: 'Largest total size of request headers (431 above it).', format: 'positive-int', default: 16384 },
      firstByteTimeoutMs: {
        doc: 'A new connection that sends nothing for this long is closed (for TLS: that does not finish its handshake). Afterwards headersTimeoutMs and keepAliveTimeoutMs apply.',
        format: 'positive-int',
        default: 10000,
      },
      connectionsPerIp: {
        doc: 'Open connections one peer address may hold on the public port; a connection beyond it is closed at once (ropc_connections_refused_total). Behind an ingress the peer is the ingress: raise this or set 0 (no limit). See docs/operations.md.',
        format: 'non-negative-int',
        default: 256,
      },
      minBodyBytesPerSecond: {
        doc: 'A request body (proxied or not) that arrives slower than this, measured over 5-second windows in which the gateway waits for it, is cut with 408 (a trickling upload would otherwise hold its upstream connection until requestTimeoutMs). 0 = no minimum.',
        format: 'non-negative-int',
        default: 100,
      },
      maxConnections: {
        doc: 'Open connections on the public port at most (all peers together); beyond it new connections are closed at once. 0 = no limit.',
        format: 'non-negative-int',
        default: 0,
      },
    },
  },
  admin: {
    host: {
      doc: 'Address the admin listener (/healthz, /readyz, /metrics) binds to. It is never proxied. Loopback by default, so metrics are not open to the network by accident; containers whose probes come from outside (Kubernetes: the Helm chart sets it) need 0.0.0.0.',
      format: 'string',
      default: '127.0.0.1',
    },
    port: { doc: 'Port of the admin listener.', format: 'port', default: 9091 },
  },
  log: {
    level: {
      doc: 'Log level (pino): fatal, error, warn, info, debug, trace or silent.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
    },
    requests: {
      doc: "Completion lines on the public port: all (one line per request) or errors (only answers of 400 and above). What the line costs depends on the host: from under 1 µs to about a third of a proxied request's CPU in the runs of docs/performance.md.",
      format: ['all', 'errors'],
      default: 'all',
    },
  },
  oauth: {
    issuer: {
      doc: 'Issuer identifier published in the RFC 8414 metadata; also the base of the endpoint URLs there.',
      format: 'http-url',
      default: 'http://localhost:9031',
    },
    realm: { doc: 'Realm named in WWW-Authenticate challenges.', format: 'string', default: 'ropc-gateway' },
    paths: {
      token: { doc: 'Path of the token endpoint (RFC 6749 §3.2).', format: 'url-path', default: '/as/token.oauth2' },
      revocation: { doc: 'Path of the revocation endpoint (RFC 7009).', format: 'url-path', default: '/as/revoke_token.oauth2' },
      introspection: { doc: 'Path of the introspection endpoint (RFC 7662).', format: 'url-path', default: '/as/introspect.oauth2' },
      metadata: {
        doc: 'Path of the authorization server metadata (RFC 8414).',
        format: 'url-path',
        default: '/.well-known/oauth-authorization-server',
      },
      jwks: {
        doc: 'Path of the JWKS (RFC 7517) with the public keys of JWT access tokens and ID tokens (oauth.signing), listed as jwks_uri in the metadata. Served only when a client has JWT access tokens or the openid scope.',
        format: 'url-path',
        default: '/.well-known/jwks.json',
      },
      userinfo: {
        doc: 'Path of the OpenID Connect UserInfo endpoint (OIDC Core §5.3); served only when a client lists the openid scope.',
        format: 'url-path',
        default: '/userinfo',
      },
      openidConfiguration: {
        doc: 'Path of the OpenID Provider metadata (OIDC Discovery §4); served only when a client lists the openid scope.',
        format: 'url-path',
        default: '/.well-known/openid-configuration',
      },
    },
    accessTokenFormat: {
      doc: 'Format of the access tokens of clients that do not set clients[].accessTokenFormat: opaque (a random reference checked in the store) or jwt (an RFC 9068 JWT signed with oauth.signing, which resource servers can verify themselves). See docs/token-formats.md.',
      format: ['opaque', 'jwt'],
      default: 'opaque',
    },
    audience: {
      doc: "The audience of this gateway's own resource path: the aud of JWT access tokens of clients without clients[].audience, and the aud a JWT must carry for the resource path and the decision endpoint to accept it. Empty: oauth.issuer.",
      format: 'string',
      default: '',
    },
    jwtClaims: {
      doc: 'Extra claims of JWT access tokens: claim name -> attributes.NAME (a principal attribute of the validator). The resource path reads these claims back as the attributes of the identity, so an identity header naming attributes.NAME has a value for JWT access tokens only when NAME is mapped here. groups is always a claim. See docs/token-formats.md.',
      format: 'string-map',
      default: {} as Record<string, string>,
    },
    signing: {
      keyFiles: {
        doc: 'Private keys that sign JWT access tokens and ID tokens: PEM (PKCS#8, SEC1 or PKCS#1) or JWK files, EC P-256 (ES256) or RSA of 2048 bits or more (RS256). The first key of each algorithm signs; every key is published in the JWKS, so a next key is listed after the current one before it is moved first, and a retired one stays listed until the tokens it signed have expired (docs/token-formats.md, "Key rotation"). Empty: keys are generated at start, allowed only with store.type memory (replicas sharing Redis must share keys).',
        format: 'path-list',
        default: [] as string[],
      },
    },
    accessTokenTtl: { doc: 'Access token lifetime in seconds (expires_in).', format: 'positive-int', default: 14400 },
    refreshTokenTtl: {
      doc: 'Absolute lifetime in seconds of a refresh token family, counted from the password grant.',
      format: 'positive-int',
      default: 2592000,
    },
    refreshRotation: {
      doc: 'Issue a new refresh token on every refresh; presenting a rotated one revokes the family (RFC 9700 §4.14.2).',
      format: 'boolean',
      default: true,
    },
    refreshReuseGraceSeconds: {
      doc: 'Reuse interval for rotated refresh tokens: within this many seconds of a rotation, the just-rotated refresh token presented again by the same client (two tabs, a retry after a timeout) gets the same successor pair instead of revoking the family; later reuse still revokes it. 0 = strict RFC 9700 §4.14.2 reuse detection. Only with refreshRotation. See docs/security.md.',
      format: 'non-negative-int',
      default: 0,
    },
    clientAuthCacheSeconds: {
      doc: 'Seconds a successful client secret check is remembered (under an HMAC of the credentials, never the secret) so each request does not pay an argon2id verification. 0 disables.',
      format: 'non-negative-int',
      default: 60,
    },
  },
  clients: {
    doc: 'OAuth clients allowed to use the token endpoint; see "clients[]" below for the fields of each.',
    format: 'list',
    default: [] as unknown[],
  },
  validators: {
    doc: 'Password credential validators, tried in the order a client names them; see "validators[]" below.',
    format: 'list',
    default: [] as unknown[],
  },
  store: {
    type: {
      doc: 'Token store: redis, or memory (one process only; the dev default). Required in production.',
      format: ['', 'redis', 'memory'],
      default: '',
    },
    redis: {
      url: {
        doc: 'Redis URL for a single node (redis:// or rediss:// for TLS), with the database number as its path.',
        format: 'redis-url',
        default: '',
      },
      sentinels: {
        doc: 'Redis Sentinel addresses (host:port); used instead of url when set.',
        format: 'host-port-list',
        default: [] as string[],
      },
      sentinelName: { doc: 'Name of the master the sentinels monitor.', format: 'string', default: 'mymaster' },
      sentinelPassword: {
        doc: 'Password of the sentinels themselves (their requirepass), when they need one; prefer sentinelPasswordFile. The master and replicas use password.',
        format: 'string',
        default: '',
        sensitive: true,
      },
      sentinelPasswordFile: {
        doc: 'File holding the sentinel password (a Kubernetes secret mount); trailing newline ignored.',
        format: 'string',
        default: '',
      },
      cluster: {
        doc: 'Redis Cluster seed nodes (host:port); used instead of url when set.',
        format: 'host-port-list',
        default: [] as string[],
      },
      username: { doc: 'Redis ACL user name.', format: 'string', default: '' },
      password: { doc: 'Redis password (prefer passwordFile).', format: 'string', default: '', sensitive: true },
      passwordFile: {
        doc: 'File holding the Redis password (a Kubernetes secret mount); trailing newline ignored.',
        format: 'string',
        default: '',
      },
      tls: { doc: 'Use TLS to Redis (also implied by a rediss:// URL).', format: 'boolean', default: false },
      tlsCaFile: { doc: 'PEM CA bundle to verify the Redis server certificate.', format: 'string', default: '' },
      keyPrefix: { doc: 'Prefix of every key the gateway writes.', format: 'string', default: 'ropc:' },
      commandTimeoutMs: {
        doc: 'A Redis command that has not answered in this time fails (503), so a hung Redis fails fast.',
        format: 'positive-int',
        default: 1000,
      },
      connectTimeoutMs: { doc: 'Timeout of a connection attempt to Redis.', format: 'positive-int', default: 2000 },
    },
    cacheTtlMs: {
      doc: 'Local cache of token lookups on the resource path, in ms (0 = off). Revocations invalidate it on every replica over Redis pub/sub; the TTL bounds the delay if a message is lost.',
      format: 'non-negative-int',
      default: 0,
    },
  },
  upstream: {
    url: { doc: 'The protected application (http:// or https://). Required in production.', format: 'http-url', default: '' },
    timeoutMs: { doc: 'Time the upstream has to start its answer before the gateway answers 504.', format: 'positive-int', default: 30000 },
    caFile: { doc: 'PEM CA bundle to verify an https upstream.', format: 'string', default: '' },
    maxSockets: { doc: 'Keep-alive connections kept to the upstream at most.', format: 'positive-int', default: 256 },
    maxConcurrentPerSubject: {
      doc: "Requests one subject (the token's or Basic user's sub) may have in flight to the upstreams at once; beyond it 429 with Retry-After, so one caller cannot hold every upstream connection. 0 = no limit. See docs/operations.md.",
      format: 'non-negative-int',
      default: 64,
    },
    maxConcurrentPerIp: {
      doc: 'Requests on public routes (auth: none) one client IP may have in flight to the upstreams at once; beyond it 429 with Retry-After. The client IP honours server.trustProxy; an IPv6 client counts by its /64, as for the lockout. 0 = no limit.',
      format: 'non-negative-int',
      default: 64,
    },
    engine: {
      doc: 'Deprecated, no effect: plain HTTP is always forwarded with undici and WebSocket upgrades with http-proxy-3 (docs/upgrading.md). Its old values undici and http-proxy are still accepted, with a warning, so existing configurations keep loading; remove the key.',
      format: ['', 'undici', 'http-proxy'],
      default: '',
    },
  },
  routes: {
    doc: 'Route rules for the resource path, first match wins; no match requires a valid token. See "routes[]" below.',
    format: 'list',
    default: [] as unknown[],
  },
  decision: {
    enabled: {
      doc: 'Answer auth-only decisions for nginx auth_request / Envoy ext_authz at decision.path (see docs/routing.md).',
      format: 'boolean',
      default: false,
    },
    path: {
      doc: 'Path of the decision endpoint: GET here with the headers decision.ingress names (nginx, traefik), or any method on a path below it (envoy: ext_authz path_prefix) for the rest of the path. This path and everything below it are reserved when enabled: never proxied.',
      format: 'url-path',
      default: '/_ropc/auth',
    },
    ingress: {
      doc: "Which ingress asks, and so the only place the original request is read from (docs/routing.md#the-decision-endpoint-nginx-envoy-traefik): nginx (GET decision.path with X-Original-Method and X-Original-URI, as auth_request sends them), traefik (GET decision.path with X-Forwarded-Method and X-Forwarded-Uri, as forwardAuth sends them) or envoy (the original method on decision.path + the original path, as ext_authz path_prefix sends it). Required when decision.enabled: each ingress passes the client's own headers along, so reading any other source would let the client name the request that is judged.",
      format: ['', 'nginx', 'traefik', 'envoy'],
      default: '',
    },
    cacheSeconds: {
      doc: "The longest an ingress may cache an allowing decision for a bearer token, in seconds: a 200 then carries X-Accel-Expires and Cache-Control: private, max-age = the smaller of this and the token's remaining life (and of half of headers.assertion.ttlSeconds when assertions are on), for nginx proxy_cache on the auth_request location (docs/routing.md#caching-decisions). It is also how long a revoked token may still pass. Denials, Basic-bridge and public-route decisions are never cacheable. 0: every answer says Cache-Control: no-store.",
      format: 'non-negative-int',
      default: 0,
    },
  },
  basicBridge: {
    cacheSeconds: {
      doc: 'Seconds a successful Basic-bridge login (routes with auth: bearer-or-basic) is remembered, under an HMAC of client, username and password with a per-process random key (never the password). During this time a disabled user or changed password is not noticed. 0 disables.',
      format: 'non-negative-int',
      default: 30,
    },
  },
  headers: {
    removeAuthorization: {
      doc: 'Remove the Authorization header before proxying (the upstream gets identity headers instead).',
      format: 'boolean',
      default: true,
    },
    identity: {
      doc: 'Identity headers injected upstream: header name -> principal field (sub, client_id, scope, groups, or attributes.NAME). Every one of them is stripped from inbound requests, in any case.',
      format: 'string-map',
      default: {
        'X-Auth-Subject': 'sub',
        'X-Auth-Client-Id': 'client_id',
        'X-Auth-Scope': 'scope',
        'X-Auth-Groups': 'groups',
      } as Record<string, string>,
    },
    passThrough: {
      doc: 'Inbound headers the gateway would strip as identity, client address or method/URL override (docs/routing.md#headers lists them) that the upstream may see anyway, because a proxy in front sets them and the upstream trusts it: exact names, any case; their _ spellings are still stripped. Owned headers (headers.identity, X-Auth-*, the assertion header), hop-by-hop headers, Authorization and the forwarding headers server.trustProxy governs cannot be named.',
      format: 'header-name-list',
      default: [] as string[],
    },
    assertion: {
      enabled: {
        doc: 'Add a signed identity assertion to every authenticated request upstream (and to decision answers): a short-lived ES256 JWT with iss (oauth.issuer), sub, client_id, scope, groups, iat, exp and, when set, aud, verifiable against the JWKS at GET /jwks.json on the admin port. For an upstream that can also be reached without the gateway. See docs/security.md#signed-identity-assertion.',
        format: 'boolean',
        default: false,
      },
      header: {
        doc: 'Header carrying the assertion. Stripped from every inbound request, like an identity header.',
        format: 'string',
        default: 'X-Auth-Assertion',
      },
      keyFile: {
        doc: 'PEM file with the EC P-256 private key (PKCS#8 or SEC1) that signs assertions. Empty: a key is generated at start, so each process (and each restart) has its own; use a file when several replicas serve one upstream.',
        format: 'string',
        default: '',
      },
      audience: { doc: 'The aud claim of the assertion (the upstream checks it); empty: no aud claim.', format: 'string', default: '' },
      ttlSeconds: { doc: 'Lifetime of an assertion (exp - iat), in seconds.', format: 'positive-int', default: 60 },
    },
  },
  lockout: {
    maxFailures: {
      doc: 'Consecutive failed logins of one username (every spelling: NFKC, case-insensitive) that lock it; a success resets the count. A locked user gets the same invalid_grant as a wrong password and the validators are not called.',
      format: 'positive-int',
      default: 5,
    },
    lockSeconds: { doc: 'First lock duration; it doubles with every further lockout.', format: 'positive-int', default: 60 },
    maxLockSeconds: { doc: 'Longest lock duration.', format: 'positive-int', default: 900 },
    ipMaxFailuresPerMinute: {
      doc: 'Failed logins allowed from one client IP (IPv6: one /64) in a one-minute window starting at its first failure; then every login from it is refused until the window ends. The client IP honours server.trustProxy.',
      format: 'positive-int',
      default: 100,
    },
    failureResetSeconds: {
      doc: "A username's failure count and lock doubling are forgotten this many seconds after its last failure (or the end of its last lock).",
      format: 'positive-int',
      default: 3600,
    },
    directoryLockSeconds: {
      doc: "When a directory reports an account locked (the LDAP password policy accountLocked, Active Directory 775), the gateway refuses that username without calling the directory for this many seconds (a right and a wrong password alike, the same invalid_grant), and never counts it as a failure of its own: no amplifying the directory's lockout. Per replica, in memory.",
      format: 'positive-int',
      default: 60,
    },
    reservationSeconds: {
      doc: 'A login reserves its attempt in the counters before the validators are called (so concurrent guesses cannot race past maxFailures or the IP budget); a reservation its replica never settled (the process died) lapses after this many seconds. Keep it above the longest validator call.',
      format: 'positive-int',
      default: 60,
    },
  },
  passwordChange: {
    enabled: {
      doc: 'Serve the password change endpoint (docs/validators.md, "Changing a password"): a client-authenticated POST of username, password and new_password that changes the password in the directory (LDAP password modify, RFC 3062). Off by default.',
      format: 'boolean',
      default: false,
    },
    path: { doc: 'Path of the password change endpoint.', format: 'url-path', default: '/as/password.oauth2' },
  },
  security: {
    hashConcurrency: {
      doc: 'Password and client-secret hash verifications (argon2id, bcrypt: client secrets, users-file passwords, the dummy verifications of unknown or locked users) run at most this many at once; more wait in a queue.',
      format: 'positive-int',
      default: 4,
    },
    hashQueue: {
      doc: 'Hash verifications that may wait for a slot; beyond it a login or client authentication answers 503 temporarily_unavailable rather than queueing without bound.',
      format: 'non-negative-int',
      default: 32,
    },
  },
  reload: {
    watch: {
      doc: 'Also reload (as on SIGHUP) when the --config file changes: its folder is watched, so a Kubernetes ConfigMap update (a ..data symlink swap) is seen; a 5 s stat poll backs it up. Off: only SIGHUP reloads. See docs/operations.md.',
      format: 'boolean',
      default: false,
    },
  },
  incumbent: {
    introspection: {
      enabled: {
        doc: "Also accept access tokens of an incumbent authorization server (PingFederate) during a migration: a bearer token that is not in this gateway's own format is checked at the incumbent's RFC 7662 introspection endpoint (url), and its claims are mapped to the identity headers and route scopes. The gateway's own tokens (unknown, expired or revoked ones included) are never sent there. Off by default; read at startup (a reload does not change it). See docs/migrating-from-pingfederate.md.",
        format: 'boolean',
        default: false,
      },
      url: {
        doc: "The incumbent's introspection endpoint, e.g. https://pf.example.com/as/introspect.oauth2 (without credentials). Required when enabled.",
        format: 'http-url',
        default: '',
      },
      sameFormat: {
        doc: "The incumbent is itself a ropc-gateway, whose tokens have this gateway's format: also ask it about tokens of that format that this gateway's store does not know. Formats alone cannot tell two such deployments apart, so a revoked or expired token of this gateway is then asked of the incumbent too (it answers inactive). Off: a token in this gateway's format is never sent to the incumbent (PingFederate's JWTs and reference tokens never have it).",
        format: 'boolean',
        default: false,
      },
      clientId: {
        doc: 'Client id the gateway authenticates with at the incumbent (a PingFederate client with the Access Token Validation grant type). Required when enabled.',
        format: 'string',
        default: '',
      },
      clientSecret: {
        doc: "That client's secret, sent by HTTP Basic (prefer clientSecretFile). Empty (and no clientSecretFile): client_id is sent in the form instead, for a client without a secret.",
        format: 'string',
        default: '',
        sensitive: true,
      },
      clientSecretFile: {
        doc: "File holding that client's secret (a Kubernetes secret mount); trailing newline ignored.",
        format: 'string',
        default: '',
      },
      caFile: { doc: 'PEM CA bundle to verify an https introspection endpoint (default: the system CAs).', format: 'string', default: '' },
      timeoutMs: {
        doc: "Time the incumbent has to answer one introspection (connection, queueing and answer); after it the request answers 503. Only the incumbent's tokens wait for it.",
        format: 'positive-int',
        default: 2000,
      },
      maxConnections: {
        doc: 'Connections to the incumbent at most; further introspections wait for one (within timeoutMs).',
        format: 'positive-int',
        default: 16,
      },
      cacheSeconds: {
        doc: 'Seconds an active answer is reused for the same token (never past its exp): the longest a token the incumbent revoked is still accepted here. 0 = ask for every request.',
        format: 'non-negative-int',
        default: 60,
      },
      negativeCacheSeconds: {
        doc: 'Seconds an inactive answer is reused for the same token, so retries with a dead token do not each reach the incumbent. 0 = not cached.',
        format: 'non-negative-int',
        default: 10,
      },
      cacheMaxEntries: {
        doc: 'Answers cached at most (keyed by a SHA-256 of the token, never the token); the oldest go first.',
        format: 'positive-int',
        default: 10000,
      },
      breaker: {
        failureThreshold: {
          doc: "Consecutive failed introspections (no answer, timeout, an answer that is not RFC 7662) that open the circuit breaker: then the incumbent's tokens get 503 at once, without asking it.",
          format: 'positive-int',
          default: 5,
        },
        openSeconds: {
          doc: 'Seconds the breaker stays open; then one trial introspection goes through, and its success closes the breaker.',
          format: 'positive-int',
          default: 10,
        },
      },
      claims: {
        subject: {
          doc: 'Introspection claim that becomes the subject (sub); an active token without it is refused. PingFederate answers sub and username only when the access token manager maps them.',
          format: 'string',
          default: 'sub',
        },
        groups: { doc: 'Introspection claim holding the groups (a list of strings, or one string).', format: 'string', default: 'groups' },
        attributes: {
          doc: 'Principal attributes (for headers.identity attributes.NAME) -> introspection claim, e.g. {username: username, email: mail}. String, number and boolean claims only.',
          format: 'string-map',
          default: {} as Record<string, string>,
        },
      },
    },
  },
  tracing: {
    enabled: {
      doc: 'Export OpenTelemetry traces (spans for the token endpoint steps, each validator and LDAP call, each token store operation and the upstream call) over OTLP/HTTP to tracing.endpoint, and send a W3C traceparent to the upstreams. Off: the tracing SDK is not even loaded. See docs/operations.md, "Tracing".',
      format: 'boolean',
      default: false,
    },
    endpoint: {
      doc: 'OTLP/HTTP traces URL of the collector (JSON encoding), e.g. http://otel-collector:4318/v1/traces. Extra headers (an API key) come from OTEL_EXPORTER_OTLP_HEADERS.',
      format: 'http-url',
      default: 'http://localhost:4318/v1/traces',
    },
    serviceName: { doc: 'service.name of the exported spans.', format: 'string', default: 'ropc-gateway' },
    sampleRatio: {
      doc: "Share of new traces recorded and exported, from 0 to 1 (1 = every request). A trusted incoming traceparent's sampled flag decides for the traces it continues.",
      format: 'ratio',
      default: 1,
    },
    trustIncomingTraceparent: {
      doc: "Continue the trace of an incoming W3C traceparent/tracestate (the ingress in front is traced and sets them). Off (the default): every request starts a new trace and the client's traceparent is replaced upstream, so a client cannot choose the gateway's trace ids or sampling. Turn on only when an ingress you run sets or overwrites traceparent on every request.",
      format: 'boolean',
      default: false,
    },
  },
  audit: {
    destination: {
      doc: 'Where audit events go (one JSON line per login, lockout, refresh, revocation, … with "kind":"audit"; docs/operations.md, "Audit events"): stdout (beside the request log, told apart by kind), file (audit.file), or off.',
      format: ['stdout', 'file', 'off'],
      default: 'stdout',
    },
    file: {
      doc: 'JSON-lines file the audit events are appended to when audit.destination is file (relative to the configuration file); opened once at startup, created with mode 0600.',
      format: 'string',
      default: '',
    },
  },
} as const;
