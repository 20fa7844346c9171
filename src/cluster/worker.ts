/**
 * The worker side of `server.workers` (docs/deployment.md, "Workers"): a worker is an ordinary
 * gateway (src/main.ts `start`) without the admin listener. It tells the supervisor when it
 * listens, answers its readiness and metrics requests, and stops or reloads when told.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Readiness } from '../http/admin.js';
import { isMessage, type FromWorker, type ToWorker } from './messages.js';

/** True in a worker process forked by the supervisor. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/** The worker's slot number (1…N), for its log lines. */
export function workerSlot(): number {
  return Number(process.env['GATEWAY_WORKER_SLOT'] ?? cluster.worker?.id ?? 0);
}

export interface WorkerHandlers {
  readonly stop: () => void;
  readonly reload: () => void;
  readonly readiness: () => Promise<Readiness>;
}

export function serveSupervisor(registry: Registry, handlers: WorkerHandlers): void {
  // prom-client answers the supervisor's AggregatorRegistry requests with these registries.
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    switch (message.ropc) {
      case 'shutdown':
        return handlers.stop();
      case 'reload':
        return handlers.reload();
      case 'readyz':
        return void handlers.readiness().then(
          (r) => send({ ropc: 'readyz', id: message.id, ...r }),
          (err: unknown) => send({ ropc: 'readyz', id: message.id, ready: false, body: { status: 'not ready', detail: String(err) } }),
        );
    }
  });
}

export function announceListening(port: number): void {
  send({ ropc: 'listening', port });
}

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}
