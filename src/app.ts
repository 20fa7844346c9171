/**
 * The composition root: builds the store, validators, clients, endpoints and listeners from
 * the configuration. No logic lives here; every piece is built once, before serving.
 */
import { readFileSync } from 'node:fs';
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
import type { TokenStore } from './tokens/types.js';
import { MemoryTokenStore } from './tokens/memory-store.js';
import { RedisTokenStore } from './tokens/redis-store.js';
import { createRedisClient, waitForReady } from './tokens/redis-connection.js';
import { compileRoutes } from './resource/routes.js';
import { compileHeaderRules } from './resource/identity-headers.js';
import { createForwarder } from './resource/proxy.js';
import { resourceHandler } from './resource/handler.js';

export interface Gateway {
  readonly server: Server;
  readonly admin: Server;
  readonly store: TokenStore;
  /** Starts both listeners; resolves with the bound ports (useful with port 0). */
  listen(): Promise<{ port: number; adminPort: number }>;
  /** Graceful stop: readiness fails at once, new requests are served for `drainMs`, then everything closes. */
  shutdown(drainMs?: number): Promise<void>;
}

export async function createGateway(config: GatewayConfig, logger: Logger): Promise<Gateway> {
  const metrics = createMetrics();
  const store = await createStore(config, logger);
  const validators = await createValidators(config.validators, logger);
  const clients = await ClientRegistry.create(config.clients, config.oauth.clientAuthCacheSeconds, config.mode);

  const chains = new Map(config.clients.map((c) => [c.id, new ValidatorChain(c.validators.map((name) => validators.get(name)!))]));
  const chainFor = (clientId: string): ValidatorChain => chains.get(clientId)!;

  const login = createPasswordLogin(chainFor);

  const { oauth } = config;
  const grants = [
    new PasswordGrant({ store, login, accessTokenTtl: oauth.accessTokenTtl, refreshTokenTtl: oauth.refreshTokenTtl }),
    new RefreshTokenGrant({ store, chainFor, accessTokenTtl: oauth.accessTokenTtl, rotation: oauth.refreshRotation, logger }),
  ];
  const endpoints = new Map<string, Endpoint>([
    [oauth.paths.token, { kind: 'token', errors: 'oauth', handle: tokenEndpoint({ clients, grants, bodyLimit: config.server.limits.bodyBytes }) }],
  ]);

  const forwarder = createForwarder({ ...config.upstream, logger });
  const tls = config.server.tls.certFile ? { cert: readFileSync(config.server.tls.certFile), key: readFileSync(config.server.tls.keyFile) } : undefined;
  const resource = resourceHandler({
    match: compileRoutes(config.routes, config.upstream.url),
    lookup: (token) => store.getAccess(token),
    headers: compileHeaderRules({ ...config.headers, trustProxy: config.server.trustProxy }),
    forwarder,
    tls: tls !== undefined,
  });

  let draining = false;
  const server = createPublicServer({ config, logger, metrics, endpoints, resource, ...(tls ? { tls } : {}) });
  const admin = createAdminServer({ store, validators: [...validators.values()], metrics, draining: () => draining });

  return {
    server,
    admin,
    store,
    async listen() {
      await listenOn(server, config.server.port, config.server.host);
      await listenOn(admin, config.admin.port, config.admin.host);
      return { port: (server.address() as AddressInfo).port, adminPort: (admin.address() as AddressInfo).port };
    },
    async shutdown(drainMs = config.server.drainSeconds * 1000) {
      draining = true;
      if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
      const closed = Promise.all([closeServer(server), closeServer(admin)]);
      server.closeIdleConnections();
      // In-flight requests get the request timeout to finish, then their sockets are cut.
      const cut = setTimeout(() => server.closeAllConnections(), config.server.limits.requestTimeoutMs).unref();
      await closed;
      clearTimeout(cut);
      forwarder.close();
      await Promise.allSettled([store.close(), ...[...validators.values()].map((v) => v.close())]);
    },
  };
}

async function createStore(config: GatewayConfig, logger: Logger): Promise<TokenStore> {
  if (config.store.type === 'memory') return new MemoryTokenStore();
  const client = createRedisClient(config.store.redis, (err) => logger.warn({ err: { message: err.message } }, 'redis connection error'));
  // Wait for the first connection so the first requests do not fail; if Redis is down the
  // gateway starts anyway, fails closed (503) and recovers when Redis comes up.
  await waitForReady(client, config.store.redis.connectTimeoutMs).catch(() => logger.warn('redis is not reachable yet; requests answer 503 until it is'));
  return new RedisTokenStore(client, config.store.redis.keyPrefix);
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

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}
