/**
 * The lab: starts each server a selected case needs, once, and knows every case — what it
 * sends, to which server, and how its pre-flight request proves the path works end to end.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildExperiment, findExperiment } from './experiments.js';
import type { LoadSpec } from './load.js';
import {
  basic,
  detectFeatures,
  hashWithCli,
  LDAP_DN_TEMPLATE,
  ldapUsers,
  nginxMissing,
  passwordForm,
  slapdMissing,
  startGateway,
  startNginx,
  startNginxAuth,
  startNodeServer,
  startRedis,
  startSlapd,
  type Credentials,
  type Env,
  type GatewayFeatures,
  type GatewayService,
  type Service,
} from './services.js';

export type Group = 'floor' | 'reference' | 'gateway' | 'token';

/** A case that cannot run here (a missing package, a feature not landed yet): reported, not failed. */
export class SkipError extends Error {}

export interface CaseDef {
  readonly id: string;
  readonly label: string;
  readonly group: Group;
  /** Part of the default run. */
  readonly byDefault: boolean;
}

export const CASES: readonly CaseDef[] = [
  { id: 'direct', label: 'direct to the upstream', group: 'reference', byDefault: true },
  { id: 'bare-nginx', label: 'nginx reverse proxy (keepalive 64)', group: 'reference', byDefault: true },
  {
    id: 'nginx-auth',
    label: 'nginx auth_request, the gateway as decision endpoint, decisions cached (docs/routing.md)',
    group: 'gateway',
    byDefault: true,
  },
  { id: 'bare-http-proxy-3', label: 'bare http-proxy-3 + keep-alive agent', group: 'floor', byDefault: true },
  { id: 'bare-undici', label: 'bare node:http + undici Pool.stream', group: 'floor', byDefault: true },
  { id: 'bare-forwarder', label: "the gateway's undici forwarder alone (no auth, logs, metrics)", group: 'reference', byDefault: true },
  { id: 'gw-redis', label: 'gateway, Redis GET per request', group: 'gateway', byDefault: true },
  { id: 'gw-cache', label: 'gateway, cacheTtlMs 1000', group: 'gateway', byDefault: true },
  { id: 'gw-redis-quiet', label: 'gateway, Redis, log.level warn', group: 'gateway', byDefault: false },
  { id: 'gw-cache-quiet', label: 'gateway, cacheTtlMs 1000, log.level warn', group: 'gateway', byDefault: true },
  { id: 'gw-redis-traced', label: 'gateway, Redis, tracing on (every request exported)', group: 'gateway', byDefault: true },
  { id: 'gw-cache-quiet-traced', label: 'gateway, cacheTtlMs 1000, log.level warn, tracing on', group: 'gateway', byDefault: true },
  {
    id: 'gw-cache-w2',
    label: 'gw-cache with server.workers 2 (supervisor + 2 workers, all on the server CPU)',
    group: 'gateway',
    byDefault: true,
  },
  { id: 'gw-jwt', label: 'gateway, JWT access token (ES256, verified locally, no Redis GET)', group: 'gateway', byDefault: true },
  { id: 'token-file', label: 'token endpoint, file validator (argon2id)', group: 'token', byDefault: true },
  { id: 'token-ldap', label: 'token endpoint, LDAP validator (search-then-bind, pooled service account)', group: 'token', byDefault: true },
  {
    id: 'token-ldap-paced',
    label: 'token-ldap paced at 80 % of its peak in the same round (tail latency)',
    group: 'token',
    byDefault: true,
  },
  { id: 'ldap-setex', label: 'minimal LDAP bind + Redis SETEX server', group: 'token', byDefault: true },
];

interface GatewayVariant {
  readonly cacheTtlMs: number;
  readonly logLevel: string;
  /** tracing.enabled, sampleRatio 1, exporting to the OTLP sink (bench/servers/otlp-sink.ts). */
  readonly traced?: boolean;
  /** JWT access tokens (docs/token-formats.md) instead of opaque ones. */
  readonly accessTokenFormat?: 'jwt';
  /** The decision endpoint for nginx with decision.cacheSeconds (the nginx-auth case). */
  readonly decisionCacheSeconds?: number;
  /** server.workers (default 1). */
  readonly workers?: number;
}

const GATEWAY_VARIANTS: Readonly<Record<string, GatewayVariant>> = {
  'gw-redis': { cacheTtlMs: 0, logLevel: 'info' },
  'gw-cache': { cacheTtlMs: 1000, logLevel: 'info' },
  'gw-redis-quiet': { cacheTtlMs: 0, logLevel: 'warn' },
  'gw-cache-quiet': { cacheTtlMs: 1000, logLevel: 'warn' },
  // The same as two above with tracing on: the cost of tracing is the difference.
  'gw-redis-traced': { cacheTtlMs: 0, logLevel: 'info', traced: true },
  'gw-cache-quiet-traced': { cacheTtlMs: 1000, logLevel: 'warn', traced: true },
  'gw-jwt': { cacheTtlMs: 0, logLevel: 'info', accessTokenFormat: 'jwt' },
  // The same as gw-cache with a supervisor and two workers (src/cluster/): req/s and CPU per request against gw-cache.
  'gw-cache-w2': { cacheTtlMs: 1000, logLevel: 'info', workers: 2 },
};

/** The case definition of an id, `base~exp1+exp2` for a gateway case with experiments. */
export function caseDef(id: string): CaseDef | undefined {
  const [base, exps] = id.split('~');
  const def = CASES.find((c) => c.id === base);
  if (!def || exps === undefined) return def;
  return { ...def, id, label: `${def.label} + ${exps}`, byDefault: false };
}

function splitId(id: string): { base: string; experiments: string[] } {
  const [base = '', exps] = id.split('~');
  return { base, experiments: exps ? exps.split('+') : [] };
}

export interface Target {
  /** The load to send (without duration and connections). */
  readonly load: Omit<LoadSpec, 'connections' | 'seconds'>;
  /** At most this many connections, whatever --connections says (argon2id-bound cases). */
  readonly maxConnections?: number;
  /** Processes serving this case (CPU and RSS are accounted to them). */
  readonly services: readonly Service[];
  /** Checks one request end to end; throws with the reason. */
  preflight(): Promise<void>;
  /** Something the reader of the table must know (e.g. the cache is not wired yet). */
  readonly note?: string;
  /** Measured right after `of` in each round, at `share` of the req/s `of` just reached. */
  readonly paced?: { readonly of: string; readonly share: number };
}

export class Lab {
  readonly notes: string[] = [];
  readonly skipped = new Map<string, string>();
  features: GatewayFeatures | undefined;
  private readonly started = new Map<string, Promise<Service>>();
  private creds: Credentials | undefined;

  constructor(private readonly env: Env) {}

  /** Every server started so far (resolved). */
  async services(): Promise<Service[]> {
    const out: Service[] = [];
    for (const p of this.started.values()) {
      const s = await p.catch(() => undefined);
      if (s) out.push(s);
    }
    return out;
  }

  private once(key: string, start: () => Promise<Service>): Promise<Service> {
    let p = this.started.get(key);
    if (!p) {
      p = start();
      this.started.set(key, p);
    }
    return p;
  }

  upstream(): Promise<Service> {
    return this.once('upstream', () => startNodeServer(this.env, 'upstream', 'upstream.js', (port) => [String(port)]));
  }

  /** The trace collector of the traced cases. */
  otlpSink(): Promise<Service> {
    return this.once('otlp-sink', () => startNodeServer(this.env, 'otlp-sink', 'otlp-sink.js', (port) => [String(port)]));
  }

  redis(): Promise<Service> {
    return this.once('redis', () => startRedis(this.env));
  }

  slapd(): Promise<Service> {
    return this.once('slapd', async () => startSlapd(this.env, (await this.credentials()).user, (await this.credentials()).password));
  }

  async credentials(): Promise<Credentials> {
    if (!this.creds) {
      const clientSecret = randomBytes(12).toString('base64url');
      const password = randomBytes(12).toString('base64url');
      this.creds = {
        clientId: 'bench',
        clientSecret,
        clientHash: hashWithCli(this.env.root, clientSecret),
        user: 'bench',
        password,
        passwordHash: hashWithCli(this.env.root, password),
      };
    }
    return this.creds;
  }

  private async gateway(
    name: string,
    variant: GatewayVariant,
    ldap: boolean,
    experiments: readonly string[] = [],
  ): Promise<GatewayService> {
    this.features ??= await detectFeatures(this.env.root);
    const features = this.features;
    const [up, redis] = await Promise.all([this.upstream(), this.redis()]);
    const creds = await this.credentials();
    const ldapUrl = ldap ? (await this.slapd()).url : undefined;
    const bin = experiments.length ? buildExperiment(this.env.root, experiments) : undefined;
    const tracingEndpoint = variant.traced ? `${(await this.otlpSink()).url}/v1/traces` : undefined;
    const spec = {
      name,
      ...variant,
      ...(ldapUrl ? { ldapUrl } : {}),
      ...(bin ? { bin } : {}),
      ...(tracingEndpoint ? { tracingEndpoint } : {}),
    };
    return (await this.once(name, async () => {
      try {
        return await startGateway(this.env, spec, features, creds, up.url, redis.url);
      } catch (err) {
        if (!ldapUrl) throw err;
        // The LDAP validator may not start (work in progress): keep the file-validator cases.
        this.ldapFailure = `the gateway did not start with the ldap validator: ${(err as Error).message.split('\n').slice(0, 6).join(' | ')}`;
        return startGateway(this.env, { name: `${name}-noldap`, ...variant }, features, creds, up.url, redis.url);
      }
    })) as GatewayService;
  }

  /** Set when the token gateway could not start with the LDAP validator. */
  ldapFailure: string | undefined;

  /** Why a case cannot run here, or undefined. */
  async unavailable(fullId: string): Promise<string | undefined> {
    this.features ??= await detectFeatures(this.env.root);
    const features = this.features;
    const { base: id, experiments } = splitId(fullId);
    for (const e of experiments) if (!findExperiment(e)) return `unknown experiment ${e}`;
    if (experiments.length && !GATEWAY_VARIANTS[id]) return 'experiments apply to the gw-* resource cases only';
    if (id === 'bare-nginx' || id === 'nginx-auth') return nginxMissing();
    if (id === 'bare-forwarder' && !existsSync(join(this.env.root, 'dist/resource/undici-forwarder.js')))
      return 'dist/resource/undici-forwarder.js is missing (npm run build)';
    if (id === 'token-ldap' || id === 'token-ldap-paced' || id === 'ldap-setex') {
      const missing = slapdMissing();
      if (missing) return missing;
    }
    if (id.startsWith('token-ldap') && !features.ldapValidator)
      return 'the ldap validator is not in dist/ yet (src/validators/ldap.ts not wired in the registry)';
    const variant = GATEWAY_VARIANTS[id];
    if (variant?.traced && !features.tracingKey) return 'dist/config/schema.js has no tracing.enabled key (npm run build)';
    if (variant?.accessTokenFormat && !existsSync(join(this.env.root, 'dist/tokens/jwt-access.js')))
      return 'JWT access tokens are not in dist/ yet (npm run build)';
    return undefined;
  }

  /** `ldap`: a gw-* case's gateway also gets the LDAP validator and its `bench-ldap` client (the soak's LDAP logins). */
  async target(fullId: string, opts: { readonly ldap?: boolean } = {}): Promise<Target> {
    const creds = await this.credentials();
    const { base: id, experiments } = splitId(fullId);
    const echo = async (base: string, authorization?: string): Promise<Record<string, string>> => {
      const res = await fetch(`${base}/__echo`, authorization ? { headers: { authorization } } : {});
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /__echo answered ${res.status}: ${text.slice(0, 300)}`);
      return (JSON.parse(text) as { headers: Record<string, string> }).headers;
    };
    const variant = GATEWAY_VARIANTS[id];
    if (variant) {
      let gw: GatewayService;
      try {
        gw = await this.gateway(fullId.replace(/[~+]/g, '_'), variant, opts.ldap === true, experiments);
      } catch (err) {
        if ((err as Error).message.includes('is stale')) throw new SkipError((err as Error).message);
        throw err;
      }
      const authorization = `Bearer ${gw.accessToken}`;
      const features = this.features as GatewayFeatures;
      const note =
        variant.cacheTtlMs > 0 && !features.cacheWired ? 'cache not wired in dist/app.js yet: same work as the Redis case' : undefined;
      const sink = variant.traced ? await this.otlpSink() : undefined;
      return {
        load: { url: `${gw.url}/api/items?page=1`, authorization },
        services: [gw, await this.redis(), await this.upstream(), ...(sink ? [sink] : [])],
        preflight: async () => {
          const lookups = variant.accessTokenFormat ? await jwtStoreLookups(gw.adminUrl) : 0;
          const headers = await echo(gw.url, authorization);
          if (headers['x-auth-subject'] !== creds.user)
            throw new Error(`the upstream did not get X-Auth-Subject: ${creds.user} (got ${JSON.stringify(headers)})`);
          if (headers['authorization'] !== undefined) throw new Error('the upstream got the Authorization header');
          if (sink) await tracedPreflight(sink.url, headers);
          if (variant.accessTokenFormat) {
            if (gw.accessToken.split('.').length !== 3) throw new Error('the gateway did not issue a JWT access token');
            // The case measures local verification: a store lookup would mean the revocation list sent it to Redis.
            if ((await jwtStoreLookups(gw.adminUrl)) !== lookups)
              throw new Error('the JWT was checked in Redis, not locally (docs/token-formats.md, "Revocation")');
          }
        },
        ...(note ? { note } : {}),
      };
    }
    switch (id) {
      case 'direct': {
        const up = await this.upstream();
        return { load: { url: `${up.url}/api/items?page=1` }, services: [up], preflight: async () => void (await echo(up.url)) };
      }
      case 'nginx-auth': {
        // Decisions may be kept for the token's whole life (7200 s here): what is measured is
        // nginx answering from its cache, plus the first decision of the token.
        const gw = await this.gateway('gw-decision', { cacheTtlMs: 0, logLevel: 'info', decisionCacheSeconds: 86_400 }, false);
        const up = await this.upstream();
        const front = await this.once('nginx-auth', () => startNginxAuth(this.env, gw.port, up.port));
        const authorization = `Bearer ${gw.accessToken}`;
        return {
          load: { url: `${front.url}/api/items?page=1`, authorization },
          services: [front, gw, await this.redis(), up],
          preflight: async () => {
            const headers = await echo(front.url, authorization);
            if (headers['x-auth-subject'] !== creds.user)
              throw new Error(`the upstream did not get X-Auth-Subject: ${creds.user} through nginx (got ${JSON.stringify(headers)})`);
            if (headers['authorization'] !== undefined) throw new Error('the upstream got the Authorization header');
            const res = await fetch(`${gw.url}/_ropc/auth`, {
              headers: { authorization, 'x-original-method': 'GET', 'x-original-uri': '/api/items?page=1' },
            });
            if (res.status !== 200 || !Number(res.headers.get('x-accel-expires')))
              throw new Error(`the decision is not cacheable (${res.status}, X-Accel-Expires ${res.headers.get('x-accel-expires')})`);
            // The case measures nginx answering from its cache: a second request is no new decision.
            await echo(front.url, authorization);
            const before = await decisionCount(gw.adminUrl);
            await echo(front.url, authorization);
            if ((await decisionCount(gw.adminUrl)) !== before)
              throw new Error(`nginx did not answer the second request from its decision cache (see ${front.name}'s error log)`);
          },
        };
      }
      case 'bare-nginx':
      case 'bare-http-proxy-3':
      case 'bare-undici':
      case 'bare-forwarder': {
        const up = await this.upstream();
        const proxy =
          id === 'bare-nginx'
            ? await this.once('nginx', () => startNginx(this.env, up.port))
            : await this.once(id, () =>
                startNodeServer(this.env, id, `${id}.js`, (port) => [String(port), up.url, join(this.env.root, 'dist')]),
              );
        return {
          load: { url: `${proxy.url}/api/items?page=1` },
          services: [proxy, up],
          preflight: async () => void (await echo(proxy.url)),
        };
      }
      case 'token-ldap-paced':
        return { ...(await this.target('token-ldap')), paced: { of: 'token-ldap', share: 0.8 } };
      case 'token-file':
      case 'token-ldap': {
        const ldap = id === 'token-ldap';
        const gw = await this.gateway(
          'gw-token',
          { cacheTtlMs: 0, logLevel: 'info' },
          (this.features as GatewayFeatures).ldapValidator && slapdMissing() === undefined,
        );
        if (ldap && this.ldapFailure) throw new SkipError(this.ldapFailure);
        const authorization = basic(ldap ? `${creds.clientId}-ldap` : creds.clientId, creds.clientSecret);
        const body = passwordForm(creds);
        const services = [gw, await this.redis(), ...(ldap ? [await this.slapd()] : [])];
        // Many users in turn: one user for every connection would measure the lockout's limit of logins in flight per user.
        const bodies = ldapUsers(creds.user).map((user) => passwordForm({ user, password: creds.password }));
        return {
          load: {
            url: `${gw.url}/as/token.oauth2`,
            method: 'POST',
            authorization,
            contentType: 'application/x-www-form-urlencoded',
            body,
            bodies,
          },
          // Each file-validator login is one argon2id verification (m=64 MiB, t=3): a few dozen
          // per second on one core. 50 connections would only queue them for seconds each.
          ...(ldap ? {} : { maxConnections: 8 }),
          services,
          preflight: () => postExpecting200(`${gw.url}/as/token.oauth2`, authorization, body),
        };
      }
      case 'ldap-setex': {
        const [slapd, redis] = await Promise.all([this.slapd(), this.redis()]);
        const ref = await this.once('ldap-setex', () =>
          startNodeServer(this.env, 'ldap-setex', 'ldap-setex.js', (port) => [
            String(port),
            slapd.url,
            String(redis.port),
            LDAP_DN_TEMPLATE,
            '4',
          ]),
        );
        const body = passwordForm(creds);
        const bodies = ldapUsers(creds.user).map((user) => passwordForm({ user, password: creds.password }));
        return {
          load: { url: `${ref.url}/token`, method: 'POST', contentType: 'application/x-www-form-urlencoded', body, bodies },
          services: [ref, redis, slapd],
          preflight: () => postExpecting200(`${ref.url}/token`, undefined, body),
        };
      }
      default:
        throw new Error(`unknown case ${id}`);
    }
  }
}

async function postExpecting200(url: string, authorization: string | undefined, body: string): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
    body,
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST answered ${res.status}: ${text.slice(0, 300)}`);
}

/**
 * A traced case works end to end: the upstream got a traceparent, and the sink receives spans
 * (the exporter batches for up to 5 s).
 */
async function tracedPreflight(sinkUrl: string, headers: Record<string, string>): Promise<void> {
  if (!/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/.test(headers['traceparent'] ?? ''))
    throw new Error(`the upstream got no sampled traceparent (got ${JSON.stringify(headers['traceparent'])})`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const count = (await (await fetch(`${sinkUrl}/__count`)).json()) as { spans: number };
    if (count.spans > 0) return;
    if (Date.now() > deadline) throw new Error('the OTLP sink received no span within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Store lookups of JWT records so far (ropc_store_duration_seconds_count, operation getAccessByRef). */
async function jwtStoreLookups(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return Number(/ropc_store_duration_seconds_count\{operation="getAccessByRef",outcome="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
}

/** Decisions the gateway has answered (ropc_http_requests_total, kind decision, every status). */
async function decisionCount(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return [...text.matchAll(/^ropc_http_requests_total\{kind="decision",status="\d+"\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
}
