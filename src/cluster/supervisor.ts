/**
 * The supervisor of `server.workers` above 1 (docs/deployment.md, "Workers"): the primary
 * process of node:cluster. It serves no request on the public port itself: it forks N workers
 * that all listen on it (the primary accepts and hands connections out round-robin), and
 *
 * - restarts a worker that dies, after 0.2 s, doubling up to 5 s while they keep dying; five
 *   deaths within a minute is a crash loop: it stops the others and exits 1, so the pod's
 *   restart policy (and its CrashLoopBackOff) shows it instead of a half-serving gateway;
 * - on SIGTERM/SIGINT makes /readyz fail at once and tells every worker to stop; each drains
 *   as a single process does (src/http/lifecycle.ts); it exits 0 once all exited cleanly, 1
 *   otherwise; a second signal kills the workers and exits 1 at once;
 * - forwards SIGHUP (and `reload.watch` changes) to every worker, each reloading the file;
 * - serves the admin port once: /healthz (this process serves), /readyz (ready only when every
 *   worker is up and ready: a dead or restarting worker makes the pod unready, its capacity
 *   is gone), /metrics (the workers' registries summed by prom-client's AggregatorRegistry,
 *   plus ropc_workers and ropc_worker_restarts_total), /jwks.json.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { GatewayConfig } from '../config/types.js';
import { createAdminListener, type Readiness } from '../http/admin.js';
import { flushLogs, type Logger } from '../observability/logger.js';
import { watchFile } from '../config/watch-file.js';
import { createAssertionSigner } from '../resource/assertion.js';
import { isMessage, type FromWorker, type ToWorker } from './messages.js';

const CRASH_WINDOW_MS = 60_000;
const CRASH_LIMIT = 5;
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;
/** How long a worker has to answer a readiness question before it counts as not ready. */
const READY_ANSWER_MS = 2_000;

interface Slot {
  readonly n: number;
  worker: Worker | undefined;
  listening: boolean;
  restart: NodeJS.Timeout | undefined;
}

export interface SupervisorOptions {
  readonly config: GatewayConfig;
  readonly workers: number;
  readonly logger: Logger;
  /** The configuration file, for `reload.watch`. */
  readonly file?: string;
  /** Called with the exit code once the supervisor is done (default process.exit). */
  readonly exit?: (code: number) => void;
}

export async function supervise(options: SupervisorOptions): Promise<void> {
  const { config, workers, logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const slots: Slot[] = Array.from({ length: workers }, (_, i) => ({ n: i + 1, listening: false, worker: undefined, restart: undefined }));
  const crashes: number[] = [];
  let stopping = false;
  let exitCode = 0;
  let publicPort: number | undefined;
  let announced = false;

  const registry = new Registry();
  const restarts = new Counter({
    name: 'ropc_worker_restarts_total',
    help: 'Workers the supervisor started again after one died (server.workers)',
    registers: [registry],
  });
  restarts.inc(0);
  new Gauge({
    name: 'ropc_workers',
    help: 'Worker processes listening on the public port, and configured (server.workers), by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'listening' }, slots.filter((s) => s.listening).length);
      this.set({ state: 'configured' }, workers);
    },
  });
  const aggregator = new AggregatorRegistry();

  // The admin listener answers from the start: /readyz says 503 until every worker listens.
  const jwks = config.headers.assertion.enabled
    ? (await createAssertionSigner({ ...config.headers.assertion, issuer: config.oauth.issuer })).jwks
    : undefined;
  const admin = createAdminListener({
    readiness: () => readiness(slots, stopping),
    metrics: async () => ({
      contentType: aggregator.contentType,
      text: `${await aggregator.clusterMetrics()}\n${await registry.metrics()}`,
    }),
    ...(jwks ? { jwks } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(config.admin.port, config.admin.host, () => resolve());
  });
  const adminPort = (admin.address() as AddressInfo).port;

  const fork = (slot: Slot): void => {
    slot.restart = undefined;
    const worker = cluster.fork({ GATEWAY_WORKER_SLOT: String(slot.n) });
    slot.worker = worker;
    slot.listening = false;
    worker.on('message', (message: unknown) => {
      if (!isMessage<FromWorker>(message) || message.ropc !== 'listening') return;
      slot.listening = true;
      publicPort = message.port;
      // It started while the others were stopping: it stops too.
      if (stopping) return void worker.send({ ropc: 'shutdown' } satisfies ToWorker);
      if (!announced && slots.every((s) => s.listening)) {
        announced = true;
        logger.info(
          { port: publicPort, adminPort, workers, mode: config.mode, store: config.store.type, upstream: config.upstream.url },
          'ropc-gateway listening',
        );
        flushLogs();
      }
    });
    worker.once('exit', (code, signal) => {
      if (slot.worker === worker) {
        slot.worker = undefined;
        slot.listening = false;
      }
      if (stopping) {
        if (code !== 0) exitCode = 1;
        logger.info({ worker: slot.n, workerPid: worker.process.pid, code, signal }, 'worker stopped');
        if (slots.every((s) => s.worker === undefined)) finish();
        return;
      }
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && (crashes[0] as number) < now - CRASH_WINDOW_MS) crashes.shift();
      if (crashes.length >= CRASH_LIMIT) {
        logger.error(
          { worker: slot.n, workerPid: worker.process.pid, code, signal, deaths: crashes.length, withinSeconds: CRASH_WINDOW_MS / 1000 },
          'workers keep dying: stopping the gateway',
        );
        exitCode = 1;
        stop('crash loop');
        return;
      }
      const delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (crashes.length - 1));
      logger.error({ worker: slot.n, workerPid: worker.process.pid, code, signal, restartInMs: delay }, 'worker died; starting another');
      restarts.inc();
      slot.restart = setTimeout(() => fork(slot), delay);
    });
  };

  /** To the workers that listen (and so handle messages); one still starting is told when it announces itself. */
  const send = (message: ToWorker): void => {
    for (const slot of slots) if (slot.listening && slot.worker?.isConnected()) slot.worker.send(message);
  };

  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    admin.close(() => {
      logger.info({ exitCode }, 'stopped');
      exit(exitCode);
    });
    admin.closeAllConnections();
  };

  const stop = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    const { drainSeconds, shutdownTimeoutSeconds } = config.server;
    logger.info({ reason, drainSeconds, shutdownTimeoutSeconds }, 'shutting down: readiness fails now, every worker drains');
    for (const slot of slots) clearTimeout(slot.restart);
    send({ ropc: 'shutdown' });
    if (slots.every((s) => s.worker === undefined)) {
      finish();
      return;
    }
    setTimeout(
      () => {
        logger.error('workers did not stop in time; killing them');
        for (const slot of slots) slot.worker?.process.kill('SIGKILL');
        exit(1);
      },
      (drainSeconds + shutdownTimeoutSeconds + 15) * 1000,
    ).unref();
  };

  const onSignal = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: killing the workers and exiting now');
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
      exit(1);
      return;
    }
    stop(signal);
  };
  const reload = (): void => {
    if (stopping) return;
    logger.info('reloading: telling every worker');
    send({ ropc: 'reload' });
  };

  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', reload);
  if (options.file && config.reload.watch) watchFile(options.file, reload);
  for (const slot of slots) fork(slot);
}

let questions = 0;

/** Ready only when every slot has a listening worker that says it is ready. */
async function readiness(slots: readonly Slot[], stopping: boolean): Promise<Readiness> {
  if (stopping) return { ready: false, body: { status: 'draining' } };
  const answers = await Promise.all(slots.map((slot) => ask(slot)));
  const ready = answers.every((a) => a.ready);
  return {
    ready,
    body: { status: ready ? 'ready' : 'not ready', workers: answers.map((a, i) => ({ worker: i + 1, ...a.body, ready: a.ready })) },
  };
}

function ask(slot: Slot): Promise<Readiness> {
  const worker = slot.worker;
  if (!worker || !slot.listening || !worker.isConnected()) return Promise.resolve({ ready: false, body: { status: 'starting' } });
  const id = ++questions;
  return new Promise((resolve) => {
    const timer = setTimeout(() => done({ ready: false, body: { status: 'no answer', pid: worker.process.pid } }), READY_ANSWER_MS);
    const onMessage = (message: unknown): void => {
      if (isMessage<FromWorker>(message) && message.ropc === 'readyz' && message.id === id)
        done({ ready: message.ready, body: { ...message.body, pid: worker.process.pid } });
    };
    const done = (r: Readiness): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      resolve(r);
    };
    worker.on('message', onMessage);
    worker.send({ ropc: 'readyz', id } satisfies ToWorker);
  });
}
