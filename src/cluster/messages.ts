/**
 * The messages between the supervisor and its workers over the node:cluster IPC channel
 * (`server.workers` above 1; docs/deployment.md, "Workers"). prom-client's own metrics
 * requests travel on the same channel with their own `type`.
 */
import type { Readiness } from '../http/admin.js';

export type ToWorker =
  /** Stop as on SIGTERM (src/http/lifecycle.ts); the supervisor sends it once. */
  | { readonly ropc: 'shutdown' }
  /** Reload the configuration file, as on SIGHUP. */
  | { readonly ropc: 'reload' }
  /** Answer with this worker's readiness. */
  | { readonly ropc: 'readyz'; readonly id: number };

export type FromWorker =
  | { readonly ropc: 'listening'; readonly port: number }
  | ({ readonly ropc: 'readyz'; readonly id: number } & Readiness);

export function isMessage<T extends { ropc: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { ropc?: unknown }).ropc === 'string';
}
