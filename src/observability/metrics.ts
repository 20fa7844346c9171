/**
 * Prometheus metrics (prom-client) served on the admin port. One registry per gateway so tests
 * can run several gateways in one process.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  /** Counts and times one completed request (kind: token, revocation, …, or the route label). */
  observeRequest(kind: string, status: number, seconds: number): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ropc_' });
  const requests = new Histogram({
    name: 'ropc_http_request_duration_seconds',
    help: 'Requests on the public port by handler (OAuth endpoint or route) and status',
    labelNames: ['kind', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const total = new Counter({
    name: 'ropc_http_requests_total',
    help: 'Requests on the public port by handler and status',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
  });
  return {
    registry,
    observeRequest(kind, status, seconds) {
      const labels = { kind, status: String(status) };
      requests.observe(labels, seconds);
      total.inc(labels);
    },
  };
}
