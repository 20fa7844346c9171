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

export function createAdminServer(options: AdminOptions): http.Server {
  const server = http.createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '/').split('?', 2);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    switch (path) {
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz':
        return void readiness(options).then(({ ready, body }) => {
          if (new URLSearchParams(query).has('verbose')) return sendJson(res, ready ? 200 : 503, body);
          res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
          res.end(`${ready ? 'ok' : body.status}\n`);
        });
      case '/metrics':
        return void options.metrics.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': options.metrics.registry.contentType });
          res.end(text);
        });
      case '/jwks.json':
        if (options.jwks) return sendJson(res, 200, options.jwks);
        return sendJson(res, 404, { error: 'not found' });
      default:
        return sendJson(res, 404, { error: 'not found' });
    }
  });
  options.metrics.trackConnections(server, 'admin');
  options.metrics.watchHealth(async () => {
    const { store, validators } = await checkBackends(options);
    return { store: store.status, validators };
  });
  return server;
}

/** The store's ping and each validator's health check, never throwing. */
async function checkBackends(options: AdminOptions) {
  const [store, validators] = await Promise.all([
    options.store.ping().then(
      () => ({ status: 'up' as const }),
      (err: unknown) => ({ status: 'down' as const, detail: err instanceof Error ? err.message : String(err) }),
    ),
    Promise.all(options.validators.map((v) => v.health())),
  ]);
  return { store, validators };
}

async function readiness(options: AdminOptions): Promise<{ ready: boolean; body: { readonly status: string; readonly [detail: string]: unknown } }> {
  const { store, validators } = await checkBackends(options);
  const draining = options.draining();
  const ready = store.status === 'up' && !draining;
  return { ready, body: { status: ready ? 'ready' : draining ? 'draining' : 'not ready', store, validators } };
}
