/**
 * `ropc-gateway start --config FILE`: serve until SIGTERM/SIGINT (graceful: src/http/lifecycle.ts);
 * SIGHUP, or a change of the file with `reload.watch`, reloads what a reload applies. With
 * `server.workers` above 1 this process supervises (src/cluster/supervisor.ts) and its forks serve.
 */
import type { Server } from 'node:http';
import { validateConfig } from '../config/validate.js';
import { watchFile } from '../config/watch-file.js';
import type { GatewayConfig } from '../config/types.js';
import { createGateway, type Gateway } from '../app.js';
import { createLogger, flushLogs, stdoutDestination, type Logger } from '../observability/logger.js';
import { resolveWorkers } from '../cluster/cpus.js';
import { supervise } from '../cluster/supervisor.js';
import { announceListening, isWorker, serveSupervisor, workerSlot } from '../cluster/worker.js';
import { checkedConfig, requireConfig } from './config-file.js';

/** `start --config FILE`: the same check as check-config, before anything connects; then start only connects. */
export async function startCommand(args: readonly string[]): Promise<undefined> {
  const file = requireConfig(args);
  const config = await checkedConfig({ mode: 'production', file });
  const workers = resolveWorkers(config.server.workers);
  // server.workers above 1: this process supervises, its forks (the same command) serve.
  if (workers > 1 && !isWorker()) return await startSupervisor(config, workers, file);
  return await start(config, { file });
}

/** `server.workers` above 1 (src/cluster/supervisor.ts): this process forks the workers and serves the admin port. */
async function startSupervisor(config: GatewayConfig, workers: number, file: string): Promise<undefined> {
  const logger = createLogger(config.log.level, stdoutDestination()).child({ role: 'supervisor', pid: process.pid });
  await supervise({ config, workers, logger, file });
  return undefined;
}

export async function start(config: GatewayConfig, extra: { echo?: Server; file?: string } = {}): Promise<undefined> {
  // A worker of server.workers (src/cluster/worker.ts) names itself in every line; its supervisor serves the admin port.
  const worker = isWorker();
  const stdout = stdoutDestination();
  const root = createLogger(config.log.level, stdout);
  const logger = worker ? root.child({ worker: workerSlot(), pid: process.pid }) : root;
  // A failure from here on is not a configuration problem (validateConfig passed): createGateway
  // closes what it opened, and bin/ropc-gateway.js exits 1, so no process is left behind.
  // Audit events on stdout go through the log's batched destination: in order with the log
  // lines, in the same writes, and flushed with them at exit (docs/operations.md, "Audit events").
  const gateway = await createGateway(config, logger, { serveAdmin: !worker, stdout });
  const { port, adminPort } = await gateway.listen().catch(async (err: unknown) => {
    await gateway.shutdown(0).catch(() => undefined);
    throw err;
  });
  if (worker) {
    logger.info({ port }, 'worker listening');
  } else {
    logger.info({ port, adminPort, mode: config.mode, store: config.store.type, upstream: config.upstream.url }, 'ropc-gateway listening');
  }
  flushLogs();
  // Graceful shutdown (src/http/lifecycle.ts): /readyz 503 at once, serve for drainSeconds,
  // close the listener, give in-flight requests shutdownTimeoutSeconds, close Redis and the
  // validators, exit 0. A second signal exits at once (1); so does a shutdown that hangs.
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const { drainSeconds, shutdownTimeoutSeconds } = config.server;
    logger.info({ signal, drainSeconds, shutdownTimeoutSeconds }, 'shutting down: readiness fails now, draining');
    setTimeout(
      () => {
        logger.error('shutdown did not complete in time; exiting');
        process.exit(1);
      },
      (drainSeconds + shutdownTimeoutSeconds + 10) * 1000,
    ).unref();
    gateway.shutdown().then(
      () => {
        extra.echo?.close();
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  if (extra.file) {
    const file = extra.file;
    // One reload at a time: a signal or a change during a reload runs one more afterwards.
    let running: Promise<void> | undefined;
    let again = false;
    const reloadNow = (): void => {
      if (running) {
        again = true;
        return;
      }
      running = reload(gateway, logger, config, file)
        .catch((err: unknown) => logger.error({ err }, 'configuration reload failed'))
        .finally(() => {
          running = undefined;
          if (again) {
            again = false;
            reloadNow();
          }
        });
    };
    process.on('SIGHUP', reloadNow);
    // A worker's supervisor watches the file and tells it (src/cluster/supervisor.ts).
    if (config.reload.watch && !worker) watchFile(file, reloadNow);
    if (worker)
      serveSupervisor(gateway.metrics.registry, {
        stop: () => void (stopping || stop('supervisor')),
        reload: reloadNow,
        readiness: () => gateway.readiness(),
      });
  }
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Last: from now on the supervisor's messages find their handlers.
  if (worker) announceListening(port);
  return undefined;
}

/** Keys a reload does not apply (docs/operations.md, "Configuration reload"). */
const RESTART_ONLY = [
  'server',
  'admin',
  'log',
  'oauth',
  'store',
  'upstream',
  'decision',
  'lockout',
  'reload',
  'audit',
  'incumbent',
] as const;

/**
 * SIGHUP: validateConfig on the file again; when it passes, the gateway swaps validators,
 * clients, routes, header rules and the Basic bridge. Any problem keeps the running
 * configuration and is logged, one line per problem.
 */
async function reload(gateway: Gateway, logger: Logger, running: GatewayConfig, file: string): Promise<void> {
  const { config, problems, warnings } = await validateConfig({ mode: running.mode, file });
  for (const warning of warnings) logger.warn({ warning }, 'configuration warning');
  if (problems.length > 0 || config === undefined) {
    gateway.metrics.recordReload('failed');
    gateway.audit.emit({ event: 'config_reload', outcome: 'failure', reason: 'invalid_config' });
    for (const problem of problems) logger.error({ problem }, 'configuration not reloaded; the running configuration stays');
    return;
  }
  try {
    await gateway.reload(config);
  } catch (err) {
    logger.error(
      { problem: err instanceof Error ? err.message : String(err) },
      'configuration not reloaded; the running configuration stays',
    );
    return;
  }
  const needRestart = RESTART_ONLY.filter((key) => JSON.stringify(config[key]) !== JSON.stringify(running[key]));
  if (needRestart.length > 0) logger.warn({ keys: needRestart }, 'changed keys that only a restart applies');
  logger.info(
    { clients: config.clients.length, validators: config.validators.length, routes: config.routes.length },
    'configuration reloaded',
  );
}
