/**
 * Builds the ioredis client of the token store (docs/architecture.md, docs/performance.md): single node, Sentinel or
 * Cluster; fail fast (command timeout, no offline queue, one retry) and reconnect forever, so
 * an outage answers 503 at once and the gateway recovers without a restart.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { GatewayConfig } from '../config/types.js';
import { urlHost } from '../url-host.js';

export type RedisConfig = GatewayConfig['store']['redis'];

/** ioredis options without `replyMapping`: its constructors reject an explicit `undefined` there. */
type Options = Omit<RedisOptions, 'replyMapping'>;

/** Delay before reconnect attempt `times`: 100 ms more each time, at most 1 s, never giving up. */
function reconnectDelay(times: number): number {
  return Math.min(times * 100, 1000);
}

/**
 * A connected (not lazy) client for `cfg`: Cluster when `cluster` is set, else Sentinel when
 * `sentinels` is set, else the single node of `url`. Credentials in `username`/`password`
 * override those of the URL. TLS when `tls` is set or the URL is `rediss://`, verified against
 * `tlsCaFile` when given.
 *
 * A Sentinel client follows a failover as soon as the sentinels announce it (see followFailovers).
 *
 * An `error` listener is always attached, so ioredis never throws an unhandled 'error' event;
 * `onError` (to log them) receives each error through {@link redactRedisError}.
 */
export function createRedisClient(cfg: RedisConfig, onError?: (err: Error) => void): Redis | Cluster {
  const client = cfg.cluster.length > 0 ? clusterClient(cfg) : new Redis(nodeOptions(cfg));
  if (client instanceof Redis && cfg.sentinels.length > 0) followFailovers(client, cfg);
  client.on('error', (err: unknown) => onError?.(redactRedisError(err)));
  // Cluster reports each node's failures separately; without a listener they are silent.
  if (client instanceof Cluster) client.on('node error', (err: unknown) => onError?.(redactRedisError(err)));
  return client;
}

/** Runs `issue` so that the commands it sends leave in one socket write (see {@link oneWrite}). */
export type OneWrite = <T>(issue: () => T) => T;

/**
 * On one node (or Sentinel), the commands `issue` sends synchronously leave in one socket
 * write: the connection is corked while it runs and uncorked at once after, so Redis reads
 * them in one wake-up (a login's settlement and its token family: security/password-gate.ts).
 * Under Cluster the commands go to the nodes of their slots: `issue` runs as is.
 */
export function oneWrite(client: Redis | Cluster): OneWrite {
  return (issue) => {
    const stream = client instanceof Redis ? client.stream : undefined;
    if (!stream?.writable) return issue();
    stream.cork();
    try {
      return issue();
    } finally {
      stream.uncork();
    }
  };
}

/**
 * Resolves once `client` is ready for commands, or rejects after `timeoutMs`. With the offline
 * queue off, commands sent before that fail, so callers that need the store at once wait here.
 */
export async function waitForReady(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/**
 * A plain copy of an ioredis error with its name, message, code and stack only: ioredis attaches
 * the failed command with its arguments, and those of AUTH/HELLO hold the password.
 */
export function redactRedisError(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const copy = new Error(err.message);
  copy.name = err.name;
  if (err.stack) copy.stack = err.stack;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') Object.assign(copy, { code });
  return copy;
}

/** Options shared by every mode: timeouts, fail-fast, credentials, TLS. */
function commonOptions(cfg: RedisConfig, urlTls: boolean): Options {
  const options: Options = {
    commandTimeout: cfg.commandTimeoutMs,
    connectTimeout: cfg.connectTimeoutMs,
    maxRetriesPerRequest: 1,
    // After a Sentinel/ElastiCache failover the old master turns replica: reconnect to the new one.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  if (cfg.username) options.username = cfg.username;
  if (cfg.password) options.password = cfg.password;
  const tls = tlsOptions(cfg, urlTls);
  if (tls) options.tls = tls;
  return options;
}

/** Single node (from `url`) or Sentinel (from `sentinels` + `sentinelName`). */
function nodeOptions(cfg: RedisConfig): Options {
  const failFast = { enableOfflineQueue: false, retryStrategy: reconnectDelay, lazyConnect: false };
  if (cfg.sentinels.length > 0) {
    const options: Options = {
      ...commonOptions(cfg, false),
      ...failFast,
      sentinels: cfg.sentinels.map(hostPort),
      name: cfg.sentinelName,
      sentinelCommandTimeout: cfg.commandTimeoutMs,
    };
    // `password` is the master's and replicas'; the sentinels may have one of their own.
    if (cfg.sentinelPassword) options.sentinelPassword = cfg.sentinelPassword;
    if (options.tls) {
      // TLS to the sentinels and to the master they name.
      options.enableTLSForSentinelMode = true;
      options.sentinelTLS = options.tls;
    }
    return options;
  }
  const url = parseUrl(cfg.url);
  const options: Options = { ...commonOptions(cfg, url.protocol === 'rediss:'), ...failFast };
  options.host = urlHost(url);
  options.port = url.port ? Number(url.port) : 6379;
  const db = url.pathname.slice(1);
  if (db) options.db = Number(db);
  if (url.username && !cfg.username) options.username = decodeURIComponent(url.username);
  if (url.password && !cfg.password) options.password = decodeURIComponent(url.password);
  return options;
}

/**
 * Reconnects a Sentinel client as soon as a sentinel announces a new master (`+switch-master`):
 * after `SENTINEL FAILOVER` the old master goes on accepting writes until the sentinel demotes
 * it, up to ~10 s later, and what it accepts meanwhile is lost when it resyncs. (Not ioredis'
 * own `failoverDetector`: when the announcement arrives while the client is reconnecting — a
 * crashed master — it ends the client for good.) Only a ready client is reconnected; one that
 * is reconnecting asks the sentinels anyway. The watchers close with the client.
 */
function followFailovers(client: Redis, cfg: RedisConfig): void {
  const tls = tlsOptions(cfg, false);
  const watchers = cfg.sentinels.map((address) => {
    const watcher = new Redis({
      ...hostPort(address),
      ...(cfg.sentinelPassword ? { password: cfg.sentinelPassword } : {}),
      ...(tls ? { tls } : {}),
      connectTimeout: cfg.connectTimeoutMs,
      retryStrategy: reconnectDelay,
      maxRetriesPerRequest: null,
    });
    // Outages are the data connection's to report; a watcher just retries.
    watcher.on('error', () => {});
    watcher.subscribe('+switch-master').catch(() => {});
    watcher.on('message', (_channel: string, message: string) => {
      if (message.split(' ')[0] === cfg.sentinelName && client.status === 'ready') client.disconnect(true);
    });
    return watcher;
  });
  client.once('end', () => {
    for (const watcher of watchers) watcher.disconnect();
  });
}

function clusterClient(cfg: RedisConfig): Cluster {
  // No lazyConnect in redisOptions: ioredis keeps node connections lazy, and an eager one made
  // the cluster's ready check fail now and then with "Connection is closed".
  const redisOptions = commonOptions(cfg, false);
  return new Cluster(cfg.cluster.map(hostPort), {
    enableOfflineQueue: false,
    clusterRetryStrategy: reconnectDelay,
    lazyConnect: false,
    redisOptions,
    // With TLS, keep node host names (not resolved IPs) so certificates verify.
    ...(redisOptions.tls
      ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) }
      : {}),
  });
}

/** The URL; a parse error would carry the input, password included, so it is replaced. */
function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new Error('store.redis.url is not a valid redis:// or rediss:// URL');
  }
}

function tlsOptions(cfg: RedisConfig, urlTls: boolean): ConnectionOptions | undefined {
  if (!cfg.tls && !urlTls) return undefined;
  return cfg.tlsCaFile ? { ca: readFileSync(cfg.tlsCaFile) } : {};
}

/** "host:port" as validated by the config's `host-port-list` format. */
function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}
