/**
 * Where the LDAP password grant's p99 comes from (docs/performance.md, "The LDAP grant's
 * tail"): the token-ldap setup of the benchmark (search-then-bind, pooled service account,
 * slapd, Redis, all on the server CPU), for each LDAP `poolSize` given, first at full load
 * (the peak), then paced at 80 % of that peak. For the paced run it prints the client's
 * p50/p99 next to what the gateway's own histograms say of the same interval: the whole
 * request, the validator (pool wait + search + bind), each store operation, GC time and the
 * event-loop delay. A tail in the request but not in the validator is the gateway's own
 * queueing (CPU, GC); in the validator but shrinking with a bigger pool is pool queueing;
 * in the validator whatever the pool, slapd.
 *
 *   npm run bench:ldap-tail -- 4 16     (pool sizes; default 4 16)
 *   ONE_USER=1 npm run bench:ldap-tail  (all connections as one user, instead of 32 in turn)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { detectLoadGenerator, type LoadSpec } from '../lib/load.js';
import { stopAll } from '../lib/proc.js';
import {
  basic,
  hashWithCli,
  ldapUsers,
  passwordForm,
  startGateway,
  startNodeServer,
  startRedis,
  startSlapd,
  detectFeatures,
  type Credentials,
  type Env,
} from '../lib/services.js';

const root = resolve(new URL('../../..', import.meta.url).pathname);
const pools = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
/** ONE_USER=1: every connection logs in as the same user (the lockout's in-flight limit then shapes the tail). */
const oneUser = process.env['ONE_USER'] === '1';

/** Cumulative bucket counts of one histogram series: le → count. */
type Buckets = Map<number, number>;

function histogram(text: string, name: string, labels: string): Buckets {
  const out: Buckets = new Map();
  const re = new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\d+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const l = m[1] ?? '';
    if (!labels.split(',').every((want) => l.includes(want))) continue;
    const le = /le="([^"]+)"/.exec(l)?.[1] ?? '';
    const v = le === '+Inf' ? Infinity : Number(le);
    out.set(v, (out.get(v) ?? 0) + Number(m[2]));
  }
  return out;
}

const diff = (after: Buckets, before: Buckets): Buckets => new Map([...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)]));

/** The upper bound of the bucket holding quantile q (what a histogram can tell). */
function quantile(b: Buckets, q: number): string {
  const sorted = [...b].sort((x, y) => x[0] - y[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!total) return '-';
  const hit = sorted.find(([, n]) => n >= q * total);
  return hit && Number.isFinite(hit[0]) ? `<=${(hit[0] * 1000).toFixed(1)}ms` : '>10s';
}

const scalar = (text: string, name: string): number =>
  Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text)?.[1] ?? NaN);

async function main(): Promise<void> {
  const env: Env = { root, dir: mkdtempSync(join(tmpdir(), 'ropc-ldap-tail-')), benchOut: resolve(root, '.tmp/bench') };
  const gen = detectLoadGenerator(root, 'autocannon');
  try {
    const password = 'bench-pass-1';
    const secret = 'bench-secret-1';
    const creds: Credentials = {
      clientId: 'bench',
      clientSecret: secret,
      clientHash: hashWithCli(root, secret),
      user: 'bench',
      password,
      passwordHash: hashWithCli(root, password),
    };
    const [up, redis, slapd] = await Promise.all([
      startNodeServer(env, 'upstream', 'upstream.js', (port) => [String(port)]),
      startRedis(env),
      startSlapd(env, creds.user, creds.password),
    ]);
    const features = await detectFeatures(root);
    for (const poolSize of pools.length ? pools : [4, 16]) {
      const gw = await startGateway(
        env,
        { name: `gw-pool${poolSize}`, cacheTtlMs: 0, logLevel: 'info', ldapUrl: slapd.url, ldapPoolSize: poolSize },
        features,
        creds,
        up.url,
        redis.url,
      );
      const load: Omit<LoadSpec, 'seconds'> = {
        url: `${gw.url}/as/token.oauth2`,
        method: 'POST',
        authorization: basic(`${creds.clientId}-ldap`, secret),
        contentType: 'application/x-www-form-urlencoded',
        body: passwordForm(creds),
        connections: 50,
        ...(oneUser ? {} : { bodies: ldapUsers(creds.user).map((user) => passwordForm({ user, password })) }),
      };
      // One login first: the client secret's argon2id check is then remembered (oauth.clientAuthCacheSeconds),
      // instead of 50 of them at once at the start of the load.
      const first = await fetch(load.url, {
        method: 'POST',
        headers: { authorization: load.authorization ?? '', 'content-type': 'application/x-www-form-urlencoded' },
        body: load.body ?? '',
      });
      if (first.status !== 200) throw new Error(`the first login answered ${first.status}: ${await first.text()}`);
      await gen.run({ ...load, seconds: 2 });
      const peak = await gen.run({ ...load, seconds: 4 });
      const metrics = async (): Promise<string> => (await fetch(`${gw.adminUrl}/metrics`)).text();
      const before = await metrics(); // also resets the event-loop delay histogram
      const paced = await gen.run({ ...load, seconds: 6, rate: peak.rps * 0.8 });
      const after = await metrics();
      const h = (name: string, labels: string): Buckets => diff(histogram(after, name, labels), histogram(before, name, labels));
      const row = (what: string, b: Buckets): string =>
        `    ${what.padEnd(30)} p50 ${quantile(b, 0.5).padStart(10)}  p99 ${quantile(b, 0.99).padStart(10)}`;
      const gcSeconds = scalar(after, 'ropc_nodejs_gc_duration_seconds_sum') - scalar(before, 'ropc_nodejs_gc_duration_seconds_sum');
      console.log(`poolSize ${poolSize}: peak ${peak.rps.toFixed(0)} req/s (p50 ${peak.p50Ms} ms, p99 ${peak.p99Ms} ms)`);
      console.log(
        `  paced at ${(peak.rps * 0.8).toFixed(0)} req/s: got ${paced.rps.toFixed(0)} req/s, client p50 ${paced.p50Ms} ms, p99 ${paced.p99Ms} ms (${(paced.p99Ms / Math.max(1, paced.p50Ms)).toFixed(1)} x)`,
      );
      console.log(row('request (token endpoint)', h('ropc_http_request_duration_seconds', 'kind="token"')));
      console.log(row('validator (pool + search + bind)', h('ropc_validator_duration_seconds', '')));
      for (const op of ['createFamily']) console.log(row(`store ${op}`, h('ropc_store_duration_seconds', `operation="${op}"`)));
      console.log(
        `    GC ${(gcSeconds * 1000).toFixed(0)} ms in 6 s (${((gcSeconds / 6) * 100).toFixed(1)} %); event-loop delay p99 ${(scalar(after, 'ropc_nodejs_eventloop_lag_p99_seconds') * 1000).toFixed(1)} ms, max ${(scalar(after, 'ropc_nodejs_eventloop_lag_max_seconds') * 1000).toFixed(1)} ms`,
      );
      for (const c of gw.children) await c.stop(5000);
    }
  } finally {
    await stopAll();
    rmSync(env.dir, { recursive: true, force: true });
  }
}

await main();
