/**
 * Prometheus metrics (prom-client) served on the admin port's `/metrics`. One registry per
 * gateway so tests can run several gateways in one process. Every label value comes from the
 * configuration or a fixed set (never from a request), so cardinality is bounded.
 * docs/operations.md lists every metric.
 */
import type { Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { hashLoad } from '../security/password-hash.js';
import { counterView, histogramView, Tally, type Grouping, type Labels } from './tally.js';
import type { AuditEventName, AuditOutcome } from './audit.js';
import { TOKEN_SOURCES, type TokenSource } from '../resource/token-source.js';
import { INCUMBENT_OUTCOMES, type IncumbentOutcome } from '../resource/incumbent-introspection.js';

/** Latency buckets in seconds, from a cached lookup to a slow directory bind. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Grant types that get their own label value; anything else a client sends is `other`. */
const GRANTS = new Set(['password', 'refresh_token']);

export type ValidatorOutcome = 'valid' | 'invalid' | 'unavailable';

export interface Metrics {
  readonly registry: Registry;
  /**
   * One completed request on the public port. `kind`: token, revocation, introspection,
   * metadata, decision, resource or websocket; `route`: the matching rule's label on the
   * resource path (also counted in `ropc_resource_requests_total`).
   */
  observeRequest(kind: string, status: number, seconds: number, route?: string): void;
  /** One token endpoint request: its grant_type and `success` or the OAuth error code. */
  observeToken(grantType: string | undefined, outcome: string): void;
  /** One call to a password credential validator. */
  observeValidator(validator: string, outcome: ValidatorOutcome, seconds: number): void;
  /** One token store operation (`ok` or `error`: the store was unavailable). */
  observeStore(operation: string, outcome: 'ok' | 'error', seconds: number): void;
  /** Time to the upstream's response headers; outcome `2xx`…, `101`, `error`, `timeout`, `aborted`. */
  observeUpstream(upstream: string, outcome: string, seconds: number): void;
  /** One Basic-bridge login: `cached`, `valid` or `invalid`. */
  observeBasic(outcome: string): void;
  /** A lockout began (`user`: a username locked; `ip`: a client IP's failure budget ran out). */
  recordLockout(kind: 'user' | 'ip'): void;
  /**
   * A successful client authentication in `ropc_client_secret_matches_total{client, secret}`:
   * `secret` is the index of the secret that matched (0: secretHash/secretFile, 1…: the
   * secondary secrets), never its value — counted for remembered successes too, so a secret
   * whose count stops growing is no longer used by any caller.
   */
  recordClientSecret(clientId: string, secretIndex: number): void;
  /** One configuration reload (SIGHUP) in `ropc_config_reloads_total{outcome}`: ok, or failed (the old configuration kept). */
  recordReload(outcome: 'ok' | 'failed'): void;
  /** Open WebSocket connections proxied now (+1 on 101, -1 on close). */
  websocketDelta(delta: 1 | -1): void;
  /** A public connection closed unread: `per_ip` (server.limits.connectionsPerIp) or `max` (server.limits.maxConnections). */
  refuseConnection(reason: 'per_ip' | 'max'): void;
  /** A request refused with 429 for its caller's upstream share (`subject` or `ip`, upstream.maxConcurrentPer*). */
  throttleUpstream(by: 'subject' | 'ip'): void;
  /**
   * A bearer token on the resource path that resolved to a live record (before the route's
   * scope and group checks), in
   * `ropc_resource_token_source_total{source}`: `ours` (this gateway's store) or `incumbent`
   * (the incumbent's introspection endpoint, docs/migrating-from-pingfederate.md).
   */
  recordTokenSource(source: TokenSource): void;
  /** One incumbent lookup in `ropc_incumbent_introspections_total{outcome}` (incumbent-introspection.ts). */
  observeIncumbent(outcome: IncumbentOutcome): void;
  /** The incumbent's circuit breaker opened or closed (`ropc_incumbent_breaker_open`). */
  incumbentBreaker(open: boolean): void;
  /** Counts the open connections of a listener in `ropc_open_connections{listener}`. */
  trackConnections(server: Server, listener: string): void;
  /** One audit event in `ropc_audit_events_total{event, outcome}` (counted whatever audit.destination says). */
  recordAudit(event: AuditEventName, outcome: AuditOutcome): void;
  /**
   * The certificate the public port serves now, in `ropc_tls_certificate_not_after_seconds{file}`
   * (its notAfter as a Unix time): set when it is loaded and on every reload that installs one.
   */
  recordCertificate(file: string, notAfterSeconds: number): void;
  /**
   * Where `ropc_store_up` and `ropc_validator_up{validator}` come from: the checks `/readyz?verbose`
   * runs, run again on each scrape (so the gauges are as fresh as the scrape, with or without probes).
   */
  watchHealth(check: () => Promise<BackendHealth>): void;
}

/** The state of the backends, as `/readyz?verbose` reports it. */
export interface BackendHealth {
  readonly store: 'up' | 'down';
  readonly validators: readonly { readonly name: string; readonly status: 'up' | 'down' }[];
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ropc_' });
  const registers = [registry];

  // Every request: one observation, keyed by kind, status and route; four metrics read it.
  const requests = new Tally(BUCKETS);
  const kindAndStatus: Grouping = ({ labels }) => ({ kind: labels['kind'] as string, status: labels['status'] as string });
  const routeAndStatus: Grouping = ({ labels }) =>
    labels['route'] === undefined ? undefined : { route: labels['route'], status: labels['status'] as string };
  const routeOnly: Grouping = ({ labels }) => (labels['route'] === undefined ? undefined : { route: labels['route'] });
  histogramView(
    requests,
    'ropc_http_request_duration_seconds',
    'Requests on the public port by handler kind and status',
    kindAndStatus,
    registers,
  );
  counterView(requests, 'ropc_http_requests_total', 'Requests on the public port by handler kind and status', kindAndStatus, registers);
  counterView(
    requests,
    'ropc_resource_requests_total',
    'Resource path requests (proxy, WebSocket and decision endpoint) by route rule and status',
    routeAndStatus,
    registers,
  );
  histogramView(
    requests,
    'ropc_resource_request_duration_seconds',
    'Resource path requests (proxy, WebSocket and decision endpoint) by route rule: time to the end of the answer',
    routeOnly,
    registers,
  );
  const tokens = new Tally([]);
  counterView(
    tokens,
    'ropc_token_requests_total',
    'Token endpoint requests by grant type and outcome (success or the OAuth error code)',
    ({ labels }) => labels,
    registers,
  );
  const validators = new Tally(BUCKETS);
  histogramView(
    validators,
    'ropc_validator_duration_seconds',
    'Password credential validator calls by validator and outcome (valid, invalid, unavailable)',
    ({ labels }) => labels,
    registers,
  );
  const store = new Tally(BUCKETS);
  histogramView(
    store,
    'ropc_store_duration_seconds',
    'Token store operations by operation and outcome (ok, error)',
    ({ labels }) => labels,
    registers,
  );
  const storeErrors = new Counter({
    name: 'ropc_store_errors_total',
    help: 'Token store operations that failed because the store was unavailable',
    labelNames: ['operation'] as const,
    registers,
  });
  const upstream = new Tally(BUCKETS);
  histogramView(
    upstream,
    'ropc_upstream_duration_seconds',
    'Time to the upstream response headers by upstream and outcome (status class, error, timeout, aborted)',
    ({ labels }) => labels,
    registers,
  );
  const basic = new Counter({
    name: 'ropc_basic_auth_total',
    help: 'Basic-bridge logins by outcome (cached, valid, invalid)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const secretMatches = new Counter({
    name: 'ropc_client_secret_matches_total',
    help: 'Successful client authentications by client id and the index of the secret that matched (0: secretHash/secretFile, 1…: secondarySecretHashes)',
    labelNames: ['client', 'secret'] as const,
    registers,
  });
  const lockouts = new Counter({
    name: 'ropc_lockouts_total',
    help: 'Lockouts begun, by kind (user, ip)',
    labelNames: ['kind'] as const,
    registers,
  });
  const connections = new Gauge({
    name: 'ropc_open_connections',
    help: 'Open client connections by listener',
    labelNames: ['listener'] as const,
    registers,
  });
  const refusedConnections = new Counter({
    name: 'ropc_connections_refused_total',
    help: 'Public connections closed before reading them, by reason (per_ip, max)',
    labelNames: ['reason'] as const,
    registers,
  });
  const throttled = new Counter({
    name: 'ropc_upstream_throttled_total',
    help: 'Requests answered 429 because their caller had its share of upstream requests in flight, by caller kind (subject, ip)',
    labelNames: ['by'] as const,
    registers,
  });
  const websockets = new Gauge({ name: 'ropc_websocket_connections', help: 'Open proxied WebSocket connections', registers });
  new Gauge({
    name: 'ropc_hash_verifications',
    help: 'Password and client-secret hash verifications now, by state (running, waiting for a slot of security.hashConcurrency)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const load = hashLoad();
      this.set({ state: 'running' }, load.running);
      this.set({ state: 'waiting' }, load.waiting);
    },
  });
  const auditEvents = new Counter({
    name: 'ropc_audit_events_total',
    help: 'Audit events by event and outcome (docs/operations.md, "Audit events"), whatever audit.destination is',
    labelNames: ['event', 'outcome'] as const,
    registers,
  });
  // Present from the start, so the first detection is an increase (alerts use increase()).
  auditEvents.inc({ event: 'refresh_reuse', outcome: 'refused' }, 0);
  const certificates = new Gauge({
    name: 'ropc_tls_certificate_not_after_seconds',
    help: 'Expiry (notAfter, Unix seconds) of the certificate the public port serves, by certificate file',
    labelNames: ['file'] as const,
    registers,
  });
  let health: (() => Promise<BackendHealth>) | undefined;
  let healthNow: Promise<BackendHealth | undefined> | undefined;
  /** One check shared by the two gauges of a scrape. */
  const checkHealth = (): Promise<BackendHealth | undefined> =>
    (healthNow ??= (health ? health() : Promise.resolve(undefined)).finally(() => {
      healthNow = undefined;
    }));
  new Gauge({
    name: 'ropc_store_up',
    help: 'Whether the token store answers a ping (1) or not (0), checked on each scrape as /readyz does',
    registers,
    async collect() {
      const state = await checkHealth();
      if (state) this.set(state.store === 'up' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ropc_validator_up',
    help: 'Whether each password credential validator is up (1) or down (0), checked on each scrape as /readyz?verbose does',
    labelNames: ['validator'] as const,
    registers,
    async collect() {
      const state = await checkHealth();
      if (!state) return;
      // Only the validators of the running configuration (a reload may remove one).
      this.reset();
      for (const v of state.validators) this.set({ validator: v.name }, v.status === 'up' ? 1 : 0);
    },
  });
  const reloads = new Counter({
    name: 'ropc_config_reloads_total',
    help: 'Configuration reloads (SIGHUP) by outcome: ok, or failed (the previous configuration kept serving)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const sourceTally = new Tally([]);
  counterView(
    sourceTally,
    'ropc_resource_token_source_total',
    'Bearer tokens on the resource path that resolved to a live token (before the route scope and group checks), by source: ours (this gateway) or incumbent (incumbent.introspection)',
    ({ labels }) => labels,
    registers,
  );
  const incumbent = new Counter({
    name: 'ropc_incumbent_introspections_total',
    help: 'Incumbent token lookups by outcome: active, inactive, unmapped (active but no usable access token), cached, error, timeout, short_circuited (breaker open)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const incumbentBreaker = new Gauge({
    name: 'ropc_incumbent_breaker_open',
    help: '1 while the circuit breaker of the incumbent introspection endpoint is open',
    registers,
  });
  for (const source of TOKEN_SOURCES) sourceTally.zero(source, { source });
  for (const outcome of INCUMBENT_OUTCOMES) incumbent.inc({ outcome }, 0);
  incumbentBreaker.set(0);
  reloads.inc({ outcome: 'ok' }, 0);
  reloads.inc({ outcome: 'failed' }, 0);
  lockouts.inc({ kind: 'user' }, 0);
  lockouts.inc({ kind: 'ip' }, 0);
  websockets.set(0);
  for (const reason of ['per_ip', 'max'] as const) refusedConnections.inc({ reason }, 0);
  for (const by of ['subject', 'ip'] as const) throttled.inc({ by }, 0);

  return {
    registry,
    observeRequest(kind, status, seconds, route) {
      const labels = (): Labels => (route === undefined ? { kind, status: String(status) } : { kind, status: String(status), route });
      requests.add(route === undefined ? `${kind} ${status}` : `${kind} ${status} ${route}`, labels, seconds);
    },
    observeToken(grantType, outcome) {
      const grant = grantType === undefined ? 'none' : GRANTS.has(grantType) ? grantType : 'other';
      tokens.add(`${grant} ${outcome}`, () => ({ grant_type: grant, outcome }), 0);
    },
    observeValidator(validator, outcome, seconds) {
      validators.add(`${outcome} ${validator}`, () => ({ validator, outcome }), seconds);
    },
    observeStore(operation, outcome, seconds) {
      store.add(`${outcome} ${operation}`, () => ({ operation, outcome }), seconds);
      if (outcome === 'error') storeErrors.inc({ operation });
    },
    observeUpstream(url, outcome, seconds) {
      upstream.add(`${outcome} ${url}`, () => ({ upstream: url, outcome }), seconds);
    },
    observeBasic(outcome) {
      basic.inc({ outcome });
    },
    recordClientSecret(clientId, secretIndex) {
      secretMatches.inc({ client: clientId, secret: String(secretIndex) });
    },
    recordLockout(kind) {
      lockouts.inc({ kind });
    },
    recordReload(outcome) {
      reloads.inc({ outcome });
    },
    websocketDelta(delta) {
      websockets.inc(delta);
    },
    refuseConnection(reason) {
      refusedConnections.inc({ reason });
    },
    throttleUpstream(by) {
      throttled.inc({ by });
    },
    recordAudit(event, outcome) {
      auditEvents.inc({ event, outcome });
    },
    recordCertificate(file, notAfterSeconds) {
      certificates.set({ file }, notAfterSeconds);
    },
    watchHealth(check) {
      health = check;
    },
    recordTokenSource(source) {
      sourceTally.add(source, () => ({ source }), 0);
    },
    observeIncumbent(outcome) {
      incumbent.inc({ outcome });
    },
    incumbentBreaker(open) {
      incumbentBreaker.set(open ? 1 : 0);
    },
    trackConnections(server, listener) {
      connections.set({ listener }, 0);
      server.on('connection', (socket: NodeJS.EventEmitter) => {
        connections.inc({ listener });
        socket.once('close', () => connections.dec({ listener }));
      });
    },
  };
}
