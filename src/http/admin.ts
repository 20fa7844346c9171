/**
 * The admin listener (docs/operations.md, "Admin port"), never proxied; it binds loopback
 * unless `admin.host` says otherwise (the Helm chart sets 0.0.0.0 for the kubelet's probes):
 * - `/healthz` liveness: the process serves;
 * - `/readyz` readiness: 503 when the token store does not answer, or at once after SIGTERM.
 *   The body is terse (`ok` / `not ready` / `draining`): store and directory error messages
 *   name hosts and ports. `/readyz?verbose` adds the JSON report of the store and of each
 *   validator; a directory outage degrades logins only, so it does not make the pod unready;
 * - `/metrics` Prometheus text; `ropc_store_up` and `ropc_validator_up` run the checks of
 *   `/readyz?verbose` on each scrape;
 * - `/jwks.json` the public key of the identity assertion, when `headers.assertion.enabled`.
 * With `server.workers` above 1 the supervisor serves these routes for all its workers
 * (src/cluster/supervisor.ts), through {@link createAdminListener}.
 */
import http from 'node:http';
import type { TokenStore } from '../tokens/types.js';
import type { PasswordValidator } from '../validators/types.js';
import type { Metrics } from '../observability/metrics.js';
import { sendJson } from './send.js';

export interface AdminOptions {
  readonly store: TokenStore;
  readonly validators: readonly PasswordValidator[];
  readonly metrics: Metrics;
  /** True once shutdown has begun. */
  readonly draining: () => boolean;
  /** The public keys of the identity assertion (`headers.assertion`), served at /jwks.json. */
  readonly jwks?: unknown;
}

/** What /readyz reports; `body` is the `?verbose` JSON. */
export interface Readiness {
  readonly ready: boolean;
  readonly body: { readonly status: string; readonly [detail: string]: unknown };
}

/**
 * Where the admin routes get their answers: this process's store and registry
 * ({@link createAdminServer}), or, with `server.workers` above 1, the supervisor's view of
 * every worker (src/cluster/supervisor.ts).
 */
export interface AdminSources {
  readiness(): Promise<Readiness>;
  metrics(): Promise<{ readonly contentType: string; readonly text: string }>;
  readonly jwks?: unknown;
}

export function createAdminServer(options: AdminOptions): http.Server {
  const server = createAdminListener({
    readiness: () => readiness(options),
    metrics: async () => ({ contentType: options.metrics.registry.contentType, text: await options.metrics.registry.metrics() }),
    ...(options.jwks ? { jwks: options.jwks } : {}),
  });
  options.metrics.trackConnections(server, 'admin');
  // ropc_store_up / ropc_validator_up: the same checks, on each scrape.
  options.metrics.watchHealth(async () => {
    const { store, validators } = await checkBackends(options);
    return { store: store.status, validators };
  });
  return server;
}

export function createAdminListener(sources: AdminSources): http.Server {
  return http.createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '/').split('?', 2);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    switch (path) {
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz':
        return void sources.readiness().then(({ ready, body }) => {
          if (new URLSearchParams(query).has('verbose')) return sendJson(res, ready ? 200 : 503, body);
          res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
          res.end(`${ready ? 'ok' : body.status}\n`);
        });
      case '/metrics':
        return void sources.metrics().then(
          ({ contentType, text }) => {
            res.writeHead(200, { 'content-type': contentType });
            res.end(text);
          },
          () => sendJson(res, 503, { error: 'metrics unavailable' }),
        );
      case '/jwks.json':
        if (sources.jwks) return sendJson(res, 200, sources.jwks);
        return sendJson(res, 404, { error: 'not found' });
      default:
        return sendJson(res, 404, { error: 'not found' });
    }
  });
}

/** The store's ping and each validator's health check, never throwing. */
async function checkBackends(options: Pick<AdminOptions, 'store' | 'validators'>) {
  const [store, validators] = await Promise.all([
    options.store.ping().then(
      () => ({ status: 'up' as const }),
      (err: unknown) => ({ status: 'down' as const, detail: err instanceof Error ? err.message : String(err) }),
    ),
    Promise.all(options.validators.map((v) => v.health())),
  ]);
  return { store, validators };
}

/** This process's readiness: the store answers and shutdown has not begun. */
export async function readiness(options: Pick<AdminOptions, 'store' | 'validators' | 'draining'>): Promise<Readiness> {
  const { store, validators } = await checkBackends(options);
  const draining = options.draining();
  const ready = store.status === 'up' && !draining;
  return { ready, body: { status: ready ? 'ready' : draining ? 'draining' : 'not ready', store, validators } };
}
