/**
 * The composition root: builds the store, validators, clients, endpoints and listeners from
 * the configuration. No logic lives here; every piece is built once, before serving.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from './config/types.js';
import type { Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { createAdminServer } from './http/admin.js';
import { createPublicServer, type Endpoint } from './http/server.js';
import { ClientRegistry } from './token-endpoint/clients.js';
import { tokenEndpoint } from './token-endpoint/handler.js';
import { PasswordGrant } from './token-endpoint/grants/password.js';
import { RefreshTokenGrant } from './token-endpoint/grants/refresh-token.js';
import { createValidators } from './validators/registry.js';
import { ValidatorChain } from './validators/chain.js';
import { createPasswordLogin } from './security/login.js';
import { Lockout } from './security/lockout.js';
import type { AttemptStore } from './security/attempt-store.js';
import { MemoryAttemptStore } from './security/attempt-store-memory.js';
import { RedisAttemptStore } from './security/attempt-store-redis.js';
import { revocationEndpoint } from './token-endpoint/revocation.js';
import { introspectionEndpoint } from './token-endpoint/introspection.js';
import { metadataEndpoint } from './token-endpoint/metadata.js';
import { TokenCache } from './tokens/cache.js';
import type { TokenStore } from './tokens/types.js';
import { MemoryTokenStore } from './tokens/memory-store.js';
import { RedisTokenStore } from './tokens/redis-store.js';
import { createRedisClient, waitForReady } from './tokens/redis-connection.js';
import { compileRoutes, upstreamTargets } from './resource/routes.js';
import { compileHeaderRules } from './resource/identity-headers.js';
import { createForwarder } from './resource/proxy.js';
import { createUndiciForwarder } from './resource/undici-forwarder.js';
import { resourceHandler, resourceUpgradeHandler } from './resource/handler.js';
import { createBasicBridge } from './resource/basic-bridge.js';
import { decisionEndpoint } from './resource/decision.js';
import { createAssertionSigner } from './resource/assertion.js';
import { gracefulShutdown, Lifecycle } from './http/lifecycle.js';
import { instrumentStore, instrumentValidators } from './observability/instrument.js';

export interface Gateway {
  readonly server: Server;
  readonly admin: Server;
  readonly store: TokenStore;
  /** Starts both listeners; resolves with the bound ports (useful with port 0). */
  listen(): Promise<{ port: number; adminPort: number }>;
  /**
   * Graceful stop (src/http/lifecycle.ts): readiness fails at once, requests are served for
   * `drainMs` (default server.drainSeconds), the listener closes, in-flight requests get
   * server.shutdownTimeoutSeconds, then the store and validators close.
   */
  shutdown(drainMs?: number): Promise<void>;
}

export async function createGateway(config: GatewayConfig, logger: Logger): Promise<Gateway> {
  const metrics = createMetrics();
  const backend = await createStore(config, logger);
  const store = instrumentStore(backend.tokens, metrics);
  const validators = instrumentValidators(await createValidators(config.validators, logger), metrics);
  const clients = await ClientRegistry.create(config.clients, config.oauth.clientAuthCacheSeconds, config.mode);

  const chains = new Map(config.clients.map((c) => [c.id, new ValidatorChain(c.validators.map((name) => validators.get(name)!))]));
  const chainFor = (clientId: string): ValidatorChain => chains.get(clientId)!;

  // Every password login (token endpoint and Basic bridge) goes through the lockout (security/login.ts).
  const lockout = new Lockout(backend.attempts, config.lockout);
  const login = createPasswordLogin(chainFor, { lockout, logger, onLockout: (kind) => metrics.recordLockout(kind) });

  const { oauth } = config;
  const grants = [
    new PasswordGrant({ store, login, accessTokenTtl: oauth.accessTokenTtl, refreshTokenTtl: oauth.refreshTokenTtl }),
    new RefreshTokenGrant({ store, chainFor, accessTokenTtl: oauth.accessTokenTtl, rotation: oauth.refreshRotation, logger }),
  ];
  const endpoints = new Map<string, Endpoint>([
    [oauth.paths.token, { kind: 'token', errors: 'oauth', handle: tokenEndpoint({ clients, grants, bodyLimit: config.server.limits.bodyBytes }) }],
    [oauth.paths.revocation, { kind: 'revocation', errors: 'oauth', handle: revocationEndpoint({ clients, store, bodyLimit: config.server.limits.bodyBytes, logger }) }],
    [oauth.paths.introspection, { kind: 'introspection', errors: 'oauth', handle: introspectionEndpoint({ clients, store, bodyLimit: config.server.limits.bodyBytes, issuer: oauth.issuer }) }],
    [oauth.paths.metadata, { kind: 'metadata', errors: 'oauth', handle: metadataEndpoint(config) }],
  ]);
  // Token lookups on the resource path, through the local cache when store.cacheTtlMs > 0 (tokens/cache.ts).
  const cache = config.store.cacheTtlMs > 0 ? new TokenCache(store, { ttlMs: config.store.cacheTtlMs }) : undefined;
  const lookup = cache ? (token: string) => cache.lookup(token) : (token: string) => store.getAccess(token);

  // The resource path (src/resource/handler.ts): routes, credentials, identity headers, upstreams.
  const lifecycle = new Lifecycle();
  const tls = config.server.tls.certFile ? config.server.tls : undefined;
  const upstreamDefaults = { url: config.upstream.url, timeoutMs: config.upstream.timeoutMs, caFile: config.upstream.caFile };
  const match = compileRoutes(config.routes, upstreamDefaults);
  const proxyOptions = {
    maxSockets: config.upstream.maxSockets,
    logger,
    targets: upstreamTargets(config.routes, upstreamDefaults),
    closing: () => lifecycle.draining,
    observe: (upstream: string, outcome: string, seconds: number) => metrics.observeUpstream(upstream, outcome, seconds),
  };
  // http-proxy-3 always carries WebSocket upgrades; plain HTTP goes through undici unless configured otherwise.
  const httpProxy = createForwarder(proxyOptions);
  const forwarder = config.upstream.engine === 'undici' ? createUndiciForwarder(proxyOptions, httpProxy) : httpProxy;
  const headers = compileHeaderRules({
    identity: config.headers.identity,
    removeAuthorization: config.headers.removeAuthorization,
    trustProxy: config.server.trustProxy,
    passThrough: config.headers.passThrough,
    ...(config.headers.assertion.enabled ? { assertionHeader: config.headers.assertion.header } : {}),
  });
  const basic = createBasicBridge({ login, clients: config.clients, cacheSeconds: config.basicBridge.cacheSeconds, observe: (o) => metrics.observeBasic(o) });
  const { assertion: assertionConfig } = config.headers;
  const assertion = assertionConfig.enabled ? await createAssertionSigner({ ...assertionConfig, issuer: oauth.issuer }) : undefined;
  const resourceOptions = { match, lookup, basic, headers, forwarder, tls: tls !== undefined, ...(assertion ? { assertion } : {}) };
  const resource = resourceHandler(resourceOptions);
  const prefixEndpoints: [string, Endpoint][] = [];
  if (config.decision.enabled) {
    const decision: Endpoint = {
      kind: 'decision',
      errors: 'resource',
      handle: decisionEndpoint({ ...resourceOptions, path: config.decision.path, ingress: config.decision.ingress, removeAuthorization: config.headers.removeAuthorization, identityHeaders: Object.keys(config.headers.identity).map((h) => h.toLowerCase()) }),
    };
    endpoints.set(config.decision.path, decision);
    prefixEndpoints.push([`${config.decision.path.replace(/\/+$/, '')}/`, decision]);
  }

  const server = createPublicServer({ config, logger, metrics, endpoints, prefixEndpoints, resource, upgrade: resourceUpgradeHandler(resourceOptions), lifecycle, ...(tls ? { tls } : {}) });
  const admin = createAdminServer({ store, validators: [...validators.values()], metrics, draining: () => lifecycle.draining, ...(assertion ? { jwks: assertion.jwks } : {}) });
  let stopping: Promise<void> | undefined;

  return {
    server,
    admin,
    store,
    async listen() {
      await listenOn(server, config.server.port, config.server.host);
      await listenOn(admin, config.admin.port, config.admin.host);
      return { port: (server.address() as AddressInfo).port, adminPort: (admin.address() as AddressInfo).port };
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
          await Promise.allSettled([cache?.close(), backend.attempts.close(), store.close(), ...[...validators.values()].map((v) => v.close())]);
        },
      });
      return stopping;
    },
  };
}

/** The token store and the lockout counters, on one backend (one Redis client and key prefix). */
async function createStore(config: GatewayConfig, logger: Logger): Promise<{ tokens: TokenStore; attempts: AttemptStore }> {
  if (config.store.type === 'memory') return { tokens: new MemoryTokenStore(), attempts: new MemoryAttemptStore() };
  const client = createRedisClient(config.store.redis, (err) => logger.warn({ err: { message: err.message } }, 'redis connection error'));
  // Wait for the first connection so the first requests do not fail; if Redis is down the
  // gateway starts anyway, fails closed (503) and recovers when Redis comes up.
  await waitForReady(client, config.store.redis.connectTimeoutMs).catch(() => logger.warn('redis is not reachable yet; requests answer 503 until it is'));
  return { tokens: new RedisTokenStore(client, config.store.redis.keyPrefix), attempts: new RedisAttemptStore(client, config.store.redis.keyPrefix) };
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
