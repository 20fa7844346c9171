/**
 * The composition root: builds the store, validators, clients, endpoints and listeners from
 * the configuration. No logic lives here; every piece is built once, before serving.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DecisionIngress, GatewayConfig } from './config/types.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createAdminServer, readiness, type Readiness } from './http/admin.js';
import { createPublicServer, type Endpoint, type Handler, type UpgradeHandler } from './http/server.js';
import type { PasswordValidator } from './validators/types.js';
import { ClientRegistry } from './token-endpoint/clients.js';
import { tokenEndpoint } from './token-endpoint/handler.js';
import { PasswordGrant } from './token-endpoint/grants/password.js';
import { RefreshTokenGrant } from './token-endpoint/grants/refresh-token.js';
import { createValidators } from './validators/registry.js';
import { ValidatorChain } from './validators/chain.js';
import { ScopePolicy } from './oauth/scope-policy.js';
import { createPasswordLogin } from './security/login.js';
import { createPasswordChange } from './security/password-change.js';
import { DirectoryLocks } from './security/directory-locks.js';
import { systemClock, type Clock } from './clock.js';
import { passwordChangeEndpoint } from './token-endpoint/password-change-endpoint.js';
import type { RevealPolicy } from './token-endpoint/directory-answers.js';
import { burnVerification, mostExpensiveHash, setHashLimits } from './security/password-hash.js';
import { Lockout } from './security/lockout.js';
import type { AttemptStore } from './security/attempt-store.js';
import { MemoryAttemptStore } from './security/attempt-store-memory.js';
import { RedisAttemptStore } from './security/attempt-store-redis.js';
import { revocationEndpoint } from './token-endpoint/revocation.js';
import { introspectionEndpoint } from './token-endpoint/introspection.js';
import { metadataEndpoint } from './token-endpoint/metadata.js';
import { TokenCache } from './tokens/cache.js';
import type { GrantRecord } from './tokens/types.js';
import type { TokenStore } from './tokens/types.js';
import { MemoryTokenStore } from './tokens/memory-store.js';
import { RedisTokenStore } from './tokens/redis-store.js';
import { createRedisClient, oneWrite, waitForReady, type OneWrite } from './tokens/redis-connection.js';
import { compileRoutes, upstreamTargets } from './resource/routes.js';
import { compileHeaderRules } from './resource/identity-headers.js';
import { createUndiciForwarder } from './resource/undici-forwarder.js';
import { createWebSocketProxy } from './resource/websocket-proxy.js';
import { withFairShares } from './resource/fairness.js';
import { resourceHandler, resourceUpgradeHandler } from './resource/handler.js';
import { createBasicBridge } from './resource/basic-bridge.js';
import { decisionEndpoint } from './resource/decision.js';
import { createAssertionSigner } from './resource/assertion.js';
import { gracefulShutdown, Lifecycle } from './http/lifecycle.js';
import { instrumentStore, instrumentValidators } from './observability/instrument.js';
import { OutageLog } from './observability/outage-log.js';
import { countedAudit, createAudit, type Audit } from './observability/audit.js';
import { parseToken } from './tokens/token-value.js';
import { withTokenSources } from './resource/token-source.js';
import { IncumbentIntrospection } from './resource/incumbent-introspection.js';
import { startTracing } from './observability/tracing-sdk.js';
import type { Tracing } from './observability/tracing.js';
import { tracedForwarder, tracedHandler, tracedUpgrade } from './observability/trace-http.js';
import { tracedChain, tracedGrant, tracedLockout } from './observability/trace-steps.js';
import { ownAudience, signingNeeds } from './config/token-formats.js';
import { loadKeySet } from './tokens/key-set.js';
import { JwtAccessTokens } from './tokens/jwt-access.js';
import { JwtRevocationList } from './tokens/jwt-revocations.js';
import { accessLookup, peekJwt } from './tokens/access-lookup.js';
import { IdTokens } from './token-endpoint/id-token.js';
import { createPresenter } from './token-endpoint/present.js';
import { jwksEndpoint } from './token-endpoint/jwks.js';
import { userinfoEndpoint } from './token-endpoint/userinfo.js';
import { openIdProviderMetadata } from './token-endpoint/metadata.js';
import { claimsIssuer } from './tokens/jwt-access.js';

export interface Gateway {
  readonly server: Server;
  readonly metrics: Metrics;
  readonly admin: Server;
  readonly store: TokenStore;
  /** The audit events (docs/operations.md, "Audit events"); closed by shutdown. */
  readonly audit: Audit;
  /** The OpenTelemetry tracing (docs/operations.md, "Tracing"); undefined unless tracing.enabled. Shut down by shutdown. */
  readonly tracing: Tracing | undefined;
  /**
   * Starts both listeners (only the public one for a worker of `server.workers`, whose
   * supervisor serves the admin port); resolves with the bound ports (useful with port 0).
   */
  listen(): Promise<{ port: number; adminPort: number }>;
  /** What /readyz says for this process: the store answers and shutdown has not begun. */
  readiness(): Promise<Readiness>;
  /**
   * Graceful stop (src/http/lifecycle.ts): readiness fails at once, requests are served for
   * `drainMs` (default server.drainSeconds), the listener closes, in-flight requests get
   * server.shutdownTimeoutSeconds, then the store and validators close.
   */
  shutdown(drainMs?: number): Promise<void>;
  /**
   * Swaps validators, clients, routes, header rules and the Basic bridge for those of `next`
   * (already checked by validateConfig); requests in flight finish with the previous ones.
   * @throws when a validator of `next` cannot be built; the previous configuration keeps serving.
   */
  reload(next: GatewayConfig): Promise<void>;
}

/** The parts of the configuration a reload replaces, built together (see `build`). */
interface Generation {
  readonly validators: ReadonlyMap<string, PasswordValidator>;
  readonly token: Handler;
  readonly passwordChange: Handler;
  readonly revocation: Handler;
  readonly introspection: Handler;
  readonly resource: Handler;
  readonly upgrade: UpgradeHandler;
  readonly decision: Handler;
}

/** How long the validators of a replaced configuration stay open for logins still in flight. */
const RETIRE_MS = 30_000;

export interface GatewayOptions {
  /**
   * Where audit.destination stdout writes; default process.stdout. `ropc-gateway start` passes
   * the log's destination (src/observability/logger.ts), the test harness its log capture.
   */
  readonly stdout?: { write(line: string): unknown };
  /** False in a worker of `server.workers` (src/cluster/worker.ts): the supervisor serves the admin port. Default true. */
  readonly serveAdmin?: boolean;
  /**
   * The time source of every in-process time decision (src/clock.ts): memory stores, token
   * cache, issuance and `exp` checks, lock and directory-lock windows, client-auth and Basic
   * bridge caches, JWT revocations, the incumbent's cache and breaker; tests move it instead of
   * sleeping. Redis keeps its own time. Default the system clock.
   */
  readonly clock?: Clock;
}

export async function createGateway(config: GatewayConfig, logger: Logger, options: GatewayOptions = {}): Promise<Gateway> {
  const metrics = createMetrics();
  // Opened before the store, so an unwritable audit file stops the start with nothing to close.
  const audit = countedAudit(createAudit(config.audit, options.stdout), metrics);
  // Loads the OpenTelemetry SDK only when tracing.enabled; undefined otherwise, and every
  // traced* wrapper below then returns what it wraps.
  const tracing = await startTracing(config.tracing, logger);
  const clock = options.clock ?? systemClock;
  const now = (): number => clock.now();
  const backend = await createStore(config, logger, clock).catch(async (err: unknown) => {
    audit.close();
    await tracing?.shutdown();
    throw err;
  });
  const store = instrumentStore(backend.tokens, metrics, tracing !== undefined);
  // Every hash verification of the process shares these limits (security/password-hash.ts).
  setHashLimits({ concurrency: config.security.hashConcurrency, queue: config.security.hashQueue });
  // Every password login (token endpoint and Basic bridge) goes through the lockout (security/login.ts).
  const lockout = tracedLockout(tracing, new Lockout(backend.attempts, config.lockout));
  // Accounts a directory reported locked: not asked again for a while (security/directory-locks.ts); kept across reloads.
  const directoryLocks = new DirectoryLocks(config.lockout.directoryLockSeconds * 1000, now);
  // Failed client authentication counts in the same per-IP budget (token-endpoint/clients.ts).
  const clientBudget = {
    reserveIp: (ip: string) => lockout.reserveIp(ip),
    ipBudget: lockout.ipBudget,
    onIpBlocked: (clientIp: string) => {
      metrics.recordLockout('ip');
      logger.warn(
        { event: 'ip_blocked', clientIp },
        'too many failed client authentications from this client IP: its logins are refused for the rest of the minute',
      );
      audit.emit({ event: 'lockout', outcome: 'success', scope: 'ip', reason: 'client_auth_failures', client_ip: clientIp });
    },
  };
  const { oauth } = config;
  // Token lookups on the resource path, through the local cache when store.cacheTtlMs > 0 (tokens/cache.ts).
  const cache = config.store.cacheTtlMs > 0 ? new TokenCache(store, { ttlMs: config.store.cacheTtlMs, clock }) : undefined;
  const opaqueLookup = cache ? (token: string) => cache.lookup(token) : (token: string) => store.getAccess(token);
  const closeOnFailure = async (err: unknown): Promise<never> => {
    await Promise.allSettled([cache?.close(), backend.attempts.close(), backend.tokens.close(), tracing?.shutdown()]);
    audit.close();
    throw err;
  };
  // JWT access tokens and ID tokens (docs/token-formats.md): the key set, the revocations every
  // replica hears, built once at startup like the identity assertion's key.
  const needs = signingNeeds(config);
  const keys =
    needs.jwt || needs.openid ? await loadKeySet(config.oauth.signing.keyFiles, needs.algorithms).catch(closeOnFailure) : undefined;
  const jwt =
    keys && needs.jwt
      ? new JwtAccessTokens({ keys, issuer: oauth.issuer, audience: ownAudience(oauth), claims: oauth.jwtClaims, clock })
      : undefined;
  const jwtRevocations = jwt ? new JwtRevocationList(store, { retainSeconds: oauth.accessTokenTtl, now }) : undefined;
  const ownLookup = accessLookup(opaqueLookup, jwt && jwtRevocations ? { tokens: jwt, revocations: jwtRevocations, store } : undefined);
  // The fast path (handler.ts decideNow): the answer `lookup` below would give, when memory
  // alone holds it — an opaque token in the local cache, or a JWT verified before whose
  // revocation check needs no store (tokens/access-lookup.ts). Both are our format, so `ours`
  // answers, never the incumbent, and each is counted as `lookup` counts it.
  const probe =
    cache || (jwt && jwtRevocations)
      ? (token: string): GrantRecord | undefined => {
          const record = cache?.peek(token) ?? (jwt && jwtRevocations ? peekJwt(jwt, jwtRevocations, token) : undefined);
          if (!record || record.exp <= clock.now() / 1000) return undefined;
          metrics.recordTokenSource('ours');
          return record;
        }
      : undefined;
  // Tokens not in the gateway's own formats (opaque, or a JWT naming our issuer) go to the
  // incumbent when incumbent.introspection is on (resource/token-source.ts); each accepted
  // token is counted by source.
  const incumbent = createIncumbent(config, logger, metrics, now);
  const lookup = withTokenSources({
    ours: ownLookup,
    isOurs: (token) => parseToken(token) !== null || (jwt !== undefined && claimsIssuer(token, oauth.issuer)),
    incumbent,
    sameFormat: config.incumbent.introspection.sameFormat,
    count: (source) => metrics.recordTokenSource(source),
    now,
  });
  const present = createPresenter({
    defaultFormat: oauth.accessTokenFormat,
    ...(jwt ? { jwt } : {}),
    ...(keys && needs.openid ? { idTokens: new IdTokens(keys, oauth.issuer) } : {}),
  });

  // The resource path (src/resource/handler.ts): routes, credentials, identity headers, upstreams.
  const lifecycle = new Lifecycle();
  const tls = config.server.tls.certFile ? config.server.tls : undefined;
  const upstreamDefaults = { url: config.upstream.url, timeoutMs: config.upstream.timeoutMs, caFile: config.upstream.caFile };
  const proxyOptions = {
    maxSockets: config.upstream.maxSockets,
    logger,
    targets: upstreamTargets(config.routes, upstreamDefaults),
    observe: (upstream: string, outcome: string, seconds: number) => metrics.observeUpstream(upstream, outcome, seconds),
  };
  // Plain HTTP through undici, WebSocket upgrades through http-proxy-3 (upstream.engine is deprecated and ignored).
  const engine = createUndiciForwarder(proxyOptions, createWebSocketProxy(proxyOptions));
  const forwarder = withFairShares(tracedForwarder(tracing, engine), {
    perSubject: config.upstream.maxConcurrentPerSubject,
    perIp: config.upstream.maxConcurrentPerIp,
    onThrottled: (by) => metrics.throttleUpstream(by),
  });
  // The gateway's own paths (`endpoints` and `prefixEndpoints` below, filled in before anything
  // serves), for the resource path to refuse them in another spelling rather than proxy them.
  const reserved = (path: string): boolean => {
    // Also with trailing slashes (`/as/token.oauth2/`): a spelling of the endpoint all the same.
    const p = path.toLowerCase().replace(/\/+$/, '');
    for (const own of endpoints.keys()) if (own.toLowerCase() === p) return true;
    return prefixEndpoints.some(([prefix]) => p.startsWith(prefix.toLowerCase()) || `${p}/` === prefix.toLowerCase());
  };

  // The identity assertion's key is made once: a reload keeps it (a restart changes headers.assertion).
  const assertion = config.headers.assertion.enabled
    ? await createAssertionSigner({ ...config.headers.assertion, issuer: oauth.issuer })
    : undefined;

  /**
   * What a reload swaps (docs/operations.md, "Configuration reload"): validators, clients, the
   * grants and endpoints that hold them, routes, header rules and the Basic bridge, all built
   * from `next`. Everything else (listeners, paths, store, lockout, upstream defaults, TTLs)
   * stays as it was at startup.
   */
  const build = async (next: GatewayConfig): Promise<Generation> => {
    const rawValidators = await createValidators(next.validators, logger);
    const validators = instrumentValidators(rawValidators, metrics, logger, tracing !== undefined);
    const rotating = new Set(next.clients.filter((c) => c.secondarySecretHashes.length > 0).map((c) => c.id));
    const clients = new ClientRegistry(next.clients, oauth.clientAuthCacheSeconds, clientBudget, {
      now,
      onMatch: (clientId, secretIndex, cached) => {
        metrics.recordClientSecret(clientId, secretIndex);
        // For a client in rotation, one line per verification (a remembered success is not
        // logged again) saying which secret matched — by index, never its value.
        if (!cached && rotating.has(clientId))
          logger.info({ event: 'client_secret_matched', clientId, secretIndex }, 'client authenticated with one of its secrets');
      },
    });
    const chains = new Map(
      next.clients.map((c) => [
        c.id,
        tracedChain(
          tracing,
          new ValidatorChain(
            c.validators.map((name) => validators.get(name)!),
            c.validatorChainMode,
          ),
        ),
      ]),
    );
    const chainFor = (clientId: string): ValidatorChain => chains.get(clientId)!;
    const scopePolicy = new ScopePolicy(next.validators);
    // A locked user's dummy verification costs what the client's users files would spend: their
    // most expensive hash (read at each login: the files reload); argon2id without a users file.
    const chainValidators = new Map(
      next.clients.map((c) => [
        c.id,
        c.validators.map((name) => rawValidators.get(name)).filter((v): v is PasswordValidator => v !== undefined),
      ]),
    );
    const burn = (clientId: string): Promise<void> =>
      burnVerification(mostExpensiveHash((chainValidators.get(clientId) ?? []).map((v) => v.burnHash)));
    // Directory states and warnings reach the client only from validators with reveal: after-correct-password.
    const revealing = new Set(next.validators.filter((v) => v.type === 'ldap' && v.reveal === 'after-correct-password').map((v) => v.name));
    const reveal: RevealPolicy = (name) => revealing.has(name);
    const protection = {
      lockout,
      logger,
      audit,
      onLockout: (kind: 'user' | 'ip') => metrics.recordLockout(kind),
      burn,
      directoryLocks,
      reveal,
      ...(backend.oneWrite ? { oneWrite: backend.oneWrite } : {}),
    };
    const login = createPasswordLogin(chainFor, protection);
    const grants = [
      new PasswordGrant({
        store,
        login,
        scopePolicy,
        accessTokenTtl: oauth.accessTokenTtl,
        refreshTokenTtl: oauth.refreshTokenTtl,
        reveal,
        present,
        clock,
      }),
      new RefreshTokenGrant({
        store,
        chainFor,
        scopePolicy,
        accessTokenTtl: oauth.accessTokenTtl,
        rotation: oauth.refreshRotation,
        reuseGraceSeconds: oauth.refreshReuseGraceSeconds,
        logger,
        audit,
        present,
        clock,
      }),
    ].map((grant) => tracedGrant(tracing, grant));
    const bodyLimit = config.server.limits.bodyBytes;
    const match = compileRoutes(next.routes, upstreamDefaults, { caseSensitive: config.server.caseSensitivePaths });
    const headers = compileHeaderRules({
      identity: next.headers.identity,
      removeAuthorization: next.headers.removeAuthorization,
      trustProxy: config.server.trustProxy,
      passThrough: next.headers.passThrough,
      ...(assertion ? { assertionHeader: config.headers.assertion.header } : {}),
    });
    const basic = createBasicBridge({
      login,
      clients: next.clients,
      scopePolicy,
      cacheSeconds: next.basicBridge.cacheSeconds,
      observe: (o) => metrics.observeBasic(o),
      now,
    });
    const resourceOptions = {
      match,
      lookup,
      ...(probe ? { probe } : {}),
      basic,
      headers,
      realm: config.oauth.realm,
      forwarder,
      tls: tls !== undefined,
      ...(assertion ? { assertion } : {}),
    };
    const identityHeaders = Object.keys(next.headers.identity).map((h) => h.toLowerCase());
    return {
      validators,
      token: tokenEndpoint({ clients, grants, bodyLimit, audit }),
      passwordChange: passwordChangeEndpoint({ clients, change: createPasswordChange(chainFor, protection), bodyLimit, reveal, audit }),
      revocation: revocationEndpoint({ clients, store, bodyLimit, logger, audit, ...(jwt ? { jwt } : {}) }),
      introspection: introspectionEndpoint({ clients, store, bodyLimit, issuer: oauth.issuer, audit, clock, ...(jwt ? { jwt } : {}) }),
      resource: resourceHandler({ ...resourceOptions, reserved }),
      upgrade: resourceUpgradeHandler({ ...resourceOptions, reserved }),
      decision: decisionEndpoint({
        ...resourceOptions,
        path: config.decision.path,
        ingress: config.decision.ingress as DecisionIngress /* required by validateConfig when enabled */,
        removeAuthorization: next.headers.removeAuthorization,
        identityHeaders,
        cacheSeconds: decisionCacheSeconds(next.decision.cacheSeconds, config.headers.assertion),
      }),
    };
  };

  // validateConfig has checked every validator's settings; should building one still fail, the
  // store opened above is closed, so nothing keeps the process alive.
  let current = await build(config).catch(async (err: unknown) => {
    forwarder.close();
    await Promise.allSettled([incumbent?.close(), jwtRevocations?.close()]);
    await Promise.allSettled([backend.attempts.close(), backend.tokens.close(), tracing?.shutdown()]);
    audit.close();
    throw err;
  });
  /** Validators of replaced generations, closed after in-flight logins had time to finish. */
  const retired = new Set<PasswordValidator>();

  // The listeners dispatch through `current`, so a reload is one assignment: a request uses the
  // generation it started with from start to end.
  // With tracing, each request is a server span named for its endpoint's path (trace-http.ts).
  const endpoints = new Map<string, Endpoint>([
    [
      oauth.paths.token,
      {
        kind: 'token',
        errors: 'oauth',
        handle: tracedHandler(tracing, (req, res, ctx) => current.token(req, res, ctx), oauth.paths.token),
      },
    ],
    [
      oauth.paths.revocation,
      {
        kind: 'revocation',
        errors: 'oauth',
        handle: tracedHandler(tracing, (req, res, ctx) => current.revocation(req, res, ctx), oauth.paths.revocation),
      },
    ],
    [
      oauth.paths.introspection,
      {
        kind: 'introspection',
        errors: 'oauth',
        handle: tracedHandler(tracing, (req, res, ctx) => current.introspection(req, res, ctx), oauth.paths.introspection),
      },
    ],
    [
      oauth.paths.metadata,
      { kind: 'metadata', errors: 'oauth', handle: tracedHandler(tracing, metadataEndpoint(config), oauth.paths.metadata) },
    ],
  ]);
  if (config.passwordChange.enabled) {
    endpoints.set(config.passwordChange.path, {
      kind: 'password_change',
      errors: 'oauth',
      handle: (req, res, ctx) => current.passwordChange(req, res, ctx),
    });
  }
  if (keys) endpoints.set(oauth.paths.jwks, { kind: 'jwks', errors: 'oauth', handle: jwksEndpoint(keys.jwks) });
  if (needs.openid) {
    endpoints.set(oauth.paths.openidConfiguration, {
      kind: 'metadata',
      errors: 'oauth',
      handle: metadataEndpoint(config, openIdProviderMetadata(config)),
    });
    endpoints.set(oauth.paths.userinfo, {
      kind: 'userinfo',
      errors: 'resource',
      handle: userinfoEndpoint({ store, clock, ...(jwt ? { jwt } : {}) }),
    });
  }
  const prefixEndpoints: [string, Endpoint][] = [];
  if (config.decision.enabled) {
    const decision: Endpoint = {
      kind: 'decision',
      errors: 'resource',
      handle: tracedHandler(tracing, (req, res, ctx) => current.decision(req, res, ctx), config.decision.path),
    };
    endpoints.set(config.decision.path, decision);
    prefixEndpoints.push([`${config.decision.path.replace(/\/+$/, '')}/`, decision]);
  }
  // The resource path's server spans are named for the route rule that matched.
  const resource: Handler = tracedHandler(tracing, (req, res, ctx) => current.resource(req, res, ctx));
  const upgrade: UpgradeHandler = tracedUpgrade(tracing, (req, socket, head, ctx, outcome) =>
    current.upgrade(req, socket, head, ctx, outcome),
  );

  const server = createPublicServer({
    config,
    logger,
    metrics,
    endpoints,
    prefixEndpoints,
    resource,
    upgrade,
    lifecycle,
    ...(tls ? { tls } : {}),
  });
  const health = {
    store,
    get validators() {
      return [...current.validators.values()];
    },
    draining: () => lifecycle.draining,
  };
  const admin = createAdminServer({
    store,
    get validators() {
      return health.validators;
    },
    draining: health.draining,
    metrics,
    ...(assertion ? { jwks: assertion.jwks } : {}),
  });
  let reloading: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;

  return {
    server,
    metrics,
    admin,
    store,
    audit,
    tracing,
    async listen() {
      await listenOn(server, config.server.port, config.server.host);
      if (options.serveAdmin === false) return { port: (server.address() as AddressInfo).port, adminPort: config.admin.port };
      await listenOn(admin, config.admin.port, config.admin.host);
      return { port: (server.address() as AddressInfo).port, adminPort: (admin.address() as AddressInfo).port };
    },
    readiness: () => readiness(health),
    reload(next: GatewayConfig) {
      // One reload at a time; a failed build leaves `current` untouched.
      const run = reloading.then(async () => {
        const previous = current;
        current = await build(next).catch((err: unknown) => {
          metrics.recordReload('failed');
          audit.emit({ event: 'config_reload', outcome: 'failure', reason: 'build_failed' });
          throw err;
        });
        metrics.recordReload('ok');
        audit.emit({ event: 'config_reload', outcome: 'success' });
        for (const v of previous.validators.values()) retired.add(v);
        setTimeout(() => {
          for (const v of previous.validators.values()) void v.close().finally(() => retired.delete(v));
        }, RETIRE_MS).unref();
      });
      reloading = run.catch(() => undefined);
      return run;
    },
    shutdown(drainMs = config.server.drainSeconds * 1000) {
      // See src/http/lifecycle.ts for the steps; a second call waits for the first.
      stopping ??= gracefulShutdown({
        server,
        admin,
        lifecycle,
        drainMs,
        timeoutMs: config.server.shutdownTimeoutSeconds * 1000,
        logger,
        closeResources: async () => {
          forwarder.close();
          const validators = [...current.validators.values(), ...retired];
          await Promise.allSettled([
            cache?.close(),
            incumbent?.close(),
            jwtRevocations?.close(),
            backend.attempts.close(),
            store.close(),
            ...validators.map((v) => v.close()),
          ]);
          // After the requests: their spans are exported before the process goes.
          await tracing?.shutdown().catch(() => undefined);
          audit.close();
        },
      });
      return stopping;
    },
  };
}

/** The token store and the lockout counters, on one backend (one Redis client and key prefix). */
/**
 * `decision.cacheSeconds`, and with the signed assertion (fixed at startup, like its key) at
 * most half its lifetime: a cached answer's assertion reaches the upstream with half its life left.
 */
function decisionCacheSeconds(cacheSeconds: number, assertion: GatewayConfig['headers']['assertion']): number {
  return assertion.enabled ? Math.min(cacheSeconds, Math.floor(assertion.ttlSeconds / 2)) : cacheSeconds;
}

/** The stores; `oneWrite` sends a login's settlement and token family together (tokens/redis-connection.ts). */
interface Stores {
  readonly tokens: TokenStore;
  readonly attempts: AttemptStore;
  readonly oneWrite?: OneWrite;
}

async function createStore(config: GatewayConfig, logger: Logger, clock: Clock): Promise<Stores> {
  if (config.store.type === 'memory') return { tokens: new MemoryTokenStore({ clock }), attempts: new MemoryAttemptStore({ clock }) };
  const outage = new OutageLog(logger, 'redis');
  const client = createRedisClient(config.store.redis, (err) => {
    outage.down();
    logger.warn({ err: { message: err.message } }, 'redis connection error');
  });
  client.on('ready', () => outage.up());
  // ioredis reconnects on its own, often without an error event; a lost connection is an outage too.
  // ('reconnecting' follows a lost connection, never a shutdown's quit.)
  client.on('reconnecting', () => {
    if (outage.down()) logger.warn('redis connection lost; reconnecting');
  });
  // Wait for the first connection so the first requests do not fail; if Redis is down the
  // gateway starts anyway, fails closed (503) and recovers when Redis comes up.
  await waitForReady(client, config.store.redis.connectTimeoutMs).catch(() => {
    outage.down();
    logger.warn('redis is not reachable yet; requests answer 503 until it is');
  });
  return {
    tokens: new RedisTokenStore(client, config.store.redis.keyPrefix),
    attempts: new RedisAttemptStore(client, config.store.redis.keyPrefix),
    oneWrite: oneWrite(client),
  };
}

/** The incumbent source of access tokens (resource/incumbent-introspection.ts), or undefined when off. */
function createIncumbent(config: GatewayConfig, logger: Logger, metrics: Metrics, now: () => number): IncumbentIntrospection | undefined {
  const c = config.incumbent.introspection;
  if (!c.enabled) return undefined;
  // The URL holds no credentials (config/incumbent-checks.ts refuses them).
  logger.info(
    { event: 'incumbent_source', url: c.url, sameFormat: c.sameFormat, cacheSeconds: c.cacheSeconds },
    "tokens not in this gateway's format are checked at the incumbent's introspection endpoint",
  );
  return new IncumbentIntrospection({
    url: c.url,
    clientId: c.clientId,
    clientSecret: c.clientSecret,
    caFile: c.caFile,
    timeoutMs: c.timeoutMs,
    maxConnections: c.maxConnections,
    cacheSeconds: c.cacheSeconds,
    negativeCacheSeconds: c.negativeCacheSeconds,
    cacheMaxEntries: c.cacheMaxEntries,
    breaker: c.breaker,
    claims: c.claims,
    logger,
    observe: (outcome) => metrics.observeIncumbent(outcome),
    onBreaker: (open) => metrics.incumbentBreaker(open),
    now,
  });
}

function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
