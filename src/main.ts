/**
 * The command line: start | start-dev | check-config | hash-secret | config-docs | revoke |
 * lockout status | unlock.
 * Bad configuration prints one line per problem and exits 2, without a stack trace.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import { ConfigError, type LoadOptions } from './config/load.js';
import { validateConfig } from './config/validate.js';
import { watchFile } from './config/watch-file.js';
import type { GatewayConfig } from './config/types.js';
import { configurationMarkdown } from './config/docs.js';
import { createGateway, type Gateway } from './app.js';
import { createLogger, flushLogs, stdoutDestination, type Logger } from './observability/logger.js';
import { hashSecret } from './security/password-hash.js';
import { createEchoUpstream } from './dev/echo-upstream.js';
import { revokeCommand } from './cli/revoke.js';
import { lockoutCommand } from './cli/lockout.js';
import { resolveWorkers } from './cluster/cpus.js';
import { supervise } from './cluster/supervisor.js';
import { announceListening, isWorker, serveSupervisor, workerSlot } from './cluster/worker.js';

const DEV_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), '../config/dev/gateway.yaml');
const DEV_ECHO_PORT = 9032;

const USAGE = `usage: ropc-gateway <command>

  start --config FILE        run the gateway with a configuration file (production mode);
                             SIGHUP reloads clients, validators, routes and header rules from it
  start-dev                  run with embedded dev defaults: memory store, example users, echo upstream
  check-config --config FILE validate a configuration file; prints one line per problem
  hash-secret                read a secret on stdin, print its argon2id hash (for clients[].secretHash)
  config-docs                print the configuration reference (Markdown) generated from the schema
  revoke --config FILE --subject USER | --token TOKEN
                             revoke every token of a user, or the whole family (grant) of one token,
                             in the configured Redis store; --token - reads the token from stdin
  lockout status --config FILE --username NAME
                             show whether a user is locked out (exit 1 when locked)
  unlock --config FILE --username NAME
                             end a user's lockout and forget its failures
`;

export async function main(argv: readonly string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start': {
        // The same check as check-config, before anything connects; then start only connects.
        const file = requireConfig(rest);
        const config = await checkedConfig({ mode: 'production', file });
        const workers = resolveWorkers(config.server.workers);
        // server.workers above 1: this process supervises, its forks (the same command) serve.
        if (workers > 1 && !isWorker()) return await startSupervisor(config, workers, file);
        return await start(config, { file });
      }
      case 'start-dev':
        return await startDev();
      case 'check-config': {
        const config = await checkedConfig({ mode: 'production', file: requireConfig(rest) });
        process.stdout.write('configuration OK\n');
        const { workers } = config.server;
        if (workers !== 1) process.stdout.write(`server.workers: ${workers}${workers === 'auto' ? ` = ${resolveWorkers(workers)}` : ''} worker processes\n`);
        return 0;
      }
      case 'hash-secret':
        return await printHash();
      case 'config-docs':
        process.stdout.write(configurationMarkdown());
        return 0;
      case 'revoke':
        return await revokeCommand(rest);
      case 'unlock':
        return await lockoutCommand('unlock', rest);
      case 'lockout':
        if (rest[0] !== 'status') {
          process.stderr.write(`unknown lockout command; use: ropc-gateway lockout status --config FILE --username NAME\n`);
          return 2;
        }
        return await lockoutCommand('status', rest.slice(1));
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ropc-gateway: invalid configuration (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}):\n`);
      for (const p of err.problems) process.stderr.write(`${p}\n`);
      return 2;
    }
    throw err;
  }
}

/**
 * Runs validateConfig (src/config/validate.ts): warnings go to stderr, problems are thrown as
 * one ConfigError (printed one line each, exit 2).
 */
async function checkedConfig(options: LoadOptions): Promise<GatewayConfig> {
  const { config, problems, warnings } = await validateConfig(options);
  // A worker of server.workers checks the file again; its supervisor has printed the warnings.
  if (!isWorker()) for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems);
  return config;
}

function requireConfig(args: readonly string[]): string {
  const i = args.indexOf('--config');
  const file = i === -1 ? undefined : args[i + 1];
  if (!file) throw new ConfigError(['--config: a configuration file is required (ropc-gateway start --config FILE)']);
  return file;
}

/** `server.workers` above 1 (src/cluster/supervisor.ts): this process forks the workers and serves the admin port. */
async function startSupervisor(config: GatewayConfig, workers: number, file: string): Promise<undefined> {
  const logger = createLogger(config.log.level, stdoutDestination()).child({ role: 'supervisor', pid: process.pid });
  await supervise({ config, workers, logger, file });
  return undefined;
}

async function start(config: GatewayConfig, extra: { echo?: Server; file?: string } = {}): Promise<undefined> {
  // A worker of server.workers (src/cluster/worker.ts) names itself in every line; its supervisor serves the admin port.
  const worker = isWorker();
  const root = createLogger(config.log.level, stdoutDestination());
  const logger = worker ? root.child({ worker: workerSlot(), pid: process.pid }) : root;
  // A failure from here on is not a configuration problem (validateConfig passed): createGateway
  // closes what it opened, and bin/ropc-gateway.js exits 1, so no process is left behind.
  const gateway = await createGateway(config, logger, { serveAdmin: !worker });
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
    setTimeout(() => {
      logger.error('shutdown did not complete in time; exiting');
      process.exit(1);
    }, (drainSeconds + shutdownTimeoutSeconds + 10) * 1000).unref();
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
    if (worker) serveSupervisor(gateway.metrics.registry, { stop: () => void (stopping || stop('supervisor')), reload: reloadNow, readiness: () => gateway.readiness() });
  }
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Last: from now on the supervisor's messages find their handlers.
  if (worker) announceListening(port);
  return undefined;
}

/** Keys a reload does not apply (docs/operations.md, "Configuration reload"). */
const RESTART_ONLY = ['server', 'admin', 'log', 'oauth', 'store', 'upstream', 'decision', 'lockout', 'reload', 'audit', 'incumbent'] as const;

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
    logger.error({ problem: err instanceof Error ? err.message : String(err) }, 'configuration not reloaded; the running configuration stays');
    return;
  }
  const needRestart = RESTART_ONLY.filter((key) => JSON.stringify(config[key]) !== JSON.stringify(running[key]));
  if (needRestart.length > 0) logger.warn({ keys: needRestart }, 'changed keys that only a restart applies');
  logger.info({ clients: config.clients.length, validators: config.validators.length, routes: config.routes.length }, 'configuration reloaded');
}

async function startDev(): Promise<undefined> {
  const config = await checkedConfig({ mode: 'dev', file: DEV_CONFIG });
  const echo = createEchoUpstream();
  await new Promise<void>((res, rej) => echo.once('error', rej).listen(DEV_ECHO_PORT, '127.0.0.1', () => res()));
  process.stderr.write(devBanner(config));
  await start({ ...config, server: { ...config.server, drainSeconds: 0 } }, { echo, file: DEV_CONFIG });
  return undefined;
}

function devBanner(config: GatewayConfig): string {
  const base = `http://localhost:${config.server.port}`;
  return `
  ┌──────────────────────────────────────────────────────────────────────────┐
  │  ropc-gateway — DEV MODE: memory store, example users, echo upstream.    │
  │  Not for production: use \`ropc-gateway start --config FILE\`.             │
  └──────────────────────────────────────────────────────────────────────────┘
  Get a token (client ro_client/2Federate, user joe/2Federate):
    curl -s -X POST ${base}${config.oauth.paths.token} \\
      -H 'Authorization: Basic cm9fY2xpZW50OjJGZWRlcmF0ZQ==' \\
      -d 'grant_type=password&username=joe&password=2Federate&scope=edit'
  Call the echo upstream through the gateway:
    curl -s ${base}/hello -H "Authorization: Bearer <access_token>"
  Admin: http://localhost:${config.admin.port}/readyz  /metrics

`;
}

async function printHash(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const secret = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (!secret) {
    process.stderr.write('hash-secret: give the secret on stdin, e.g. `printf %s "$SECRET" | ropc-gateway hash-secret`\n');
    return 2;
  }
  process.stdout.write(`${await hashSecret(secret)}\n`);
  return 0;
}
