/** Medians, ratios, the printed table and the targets. */
import type { CaseDef } from './lab.js';
import type { LoadResult } from './load.js';

export interface RoundResult extends LoadResult {
  readonly round: number;
  /** CPU used by the case's own servers, in cores (1 = one full core). */
  readonly serverCores: number;
  /** CPU time per request of the case's own servers, and of its first (the proxy or gateway) alone, µs. */
  readonly cpuUsPerRequest: number;
  readonly mainUsPerRequest: number;
  /** Busy share of the server CPU not used by any process of the benchmark (others' load). */
  readonly foreignOnServerCpu: number | undefined;
  /** Busy share of the load generator's CPU. */
  readonly loadCpuBusy: number | undefined;
  readonly loadavg: number;
}

export interface CaseSummary {
  readonly id: string;
  readonly label: string;
  readonly group: CaseDef['group'];
  readonly note: string | undefined;
  readonly rounds: RoundResult[];
  readonly median: {
    rps: number;
    p50Ms: number;
    p99Ms: number;
    serverCores: number;
    cpuUsPerRequest: number;
    mainUsPerRequest: number;
    foreignOnServerCpu: number | undefined;
    minRps: number;
    maxRps: number;
  };
  ratioToHttpProxy3?: number;
  ratioToFastestBare?: number;
  p99DeltaToFastestBareMs?: number;
  rssMb?: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function summarize(def: CaseDef, rounds: RoundResult[], note: string | undefined): CaseSummary {
  const foreign = rounds.map((r) => r.foreignOnServerCpu).filter((v): v is number => v !== undefined);
  return {
    id: def.id,
    label: def.label,
    group: def.group,
    note,
    rounds,
    median: {
      rps: median(rounds.map((r) => r.rps)),
      p50Ms: median(rounds.map((r) => r.p50Ms)),
      p99Ms: median(rounds.map((r) => r.p99Ms)),
      serverCores: median(rounds.map((r) => r.serverCores)),
      cpuUsPerRequest: median(rounds.map((r) => r.cpuUsPerRequest)),
      mainUsPerRequest: median(rounds.map((r) => r.mainUsPerRequest)),
      foreignOnServerCpu: foreign.length ? median(foreign) : undefined,
      minRps: Math.min(...rounds.map((r) => r.rps)),
      maxRps: Math.max(...rounds.map((r) => r.rps)),
    },
  };
}

/** Fills the ratio columns: to bare http-proxy-3 and to the fastest bare Node proxy of this run. */
export function addRatios(cases: CaseSummary[]): { fastestBare: CaseSummary | undefined; httpProxy3: CaseSummary | undefined } {
  const httpProxy3 = cases.find((c) => c.id === 'bare-http-proxy-3');
  const bare = cases.filter((c) => c.group === 'floor');
  const fastestBare = bare.sort((a, b) => b.median.rps - a.median.rps)[0];
  for (const c of cases) {
    if (httpProxy3) c.ratioToHttpProxy3 = c.median.rps / httpProxy3.median.rps;
    if (fastestBare) {
      c.ratioToFastestBare = c.median.rps / fastestBare.median.rps;
      c.p99DeltaToFastestBareMs = c.median.p99Ms - fastestBare.median.p99Ms;
    }
  }
  return { fastestBare, httpProxy3 };
}

const fmt = (v: number | undefined, digits = 0): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));
const pct = (v: number | undefined): string => (v === undefined ? '-' : `${Math.round(v * 100)}%`);

export function table(cases: readonly CaseSummary[], rounds: number): string {
  const header = [
    'case',
    'req/s',
    `min-max (${rounds}r)`,
    'p50 ms',
    'p99 ms',
    'x hp3',
    'x fastest',
    'p99 d ms',
    'us/req',
    'main us/req',
    'foreign',
    'RSS MB',
  ];
  const rows = cases.map((c) => [
    c.id,
    fmt(c.median.rps),
    `${fmt(c.median.minRps)}-${fmt(c.median.maxRps)}`,
    fmt(c.median.p50Ms, 2),
    fmt(c.median.p99Ms, 2),
    fmt(c.ratioToHttpProxy3, 2),
    fmt(c.ratioToFastestBare, 2),
    c.p99DeltaToFastestBareMs === undefined ? '-' : `${c.p99DeltaToFastestBareMs >= 0 ? '+' : ''}${c.p99DeltaToFastestBareMs.toFixed(2)}`,
    fmt(c.median.cpuUsPerRequest, 1),
    fmt(c.median.mainUsPerRequest, 1),
    pct(c.median.foreignOnServerCpu),
    fmt(c.rssMb),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
  const notes = cases.filter((c) => c.note).map((c) => `  ${c.id}: ${c.note}`);
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ...(notes.length ? ['', 'notes:', ...notes] : [])].join(
    '\n',
  );
}

export interface TargetCheck {
  readonly target: string;
  readonly goal: string;
  readonly measured: string;
  readonly status: 'met' | 'NOT met' | 'not measured' | 'reported';
}

export function checkTargets(cases: readonly CaseSummary[], rss: ReadonlyMap<string, number>): TargetCheck[] {
  const get = (id: string): CaseSummary | undefined => cases.find((c) => c.id === id);
  const out: TargetCheck[] = [];
  const bareUndici = get('bare-undici');
  const toBare = (c: CaseSummary | undefined): number | undefined => (c && bareUndici ? c.median.rps / bareUndici.median.rps : undefined);
  const ratioCheck = (target: string, id: string, min: number): TargetCheck => {
    const r = toBare(get(id));
    return {
      target,
      goal: `>= ${min.toFixed(2)} x bare undici req/s`,
      measured: r === undefined ? '-' : `${r.toFixed(2)} x`,
      status: r === undefined ? 'not measured' : r >= min ? 'met' : 'NOT met',
    };
  };
  const cache = get('gw-cache');
  const cacheRatio = toBare(cache);
  const p99Delta = cache && bareUndici ? cache.median.p99Ms - bareUndici.median.p99Ms : undefined;
  out.push({
    target: 'resource path, 1 s local cache, default logging (gw-cache)',
    goal: '>= 0.90 x bare undici, p99 <= bare undici + 1 ms',
    measured:
      cacheRatio === undefined || p99Delta === undefined
        ? '-'
        : `${cacheRatio.toFixed(2)} x, p99 ${p99Delta >= 0 ? '+' : ''}${p99Delta.toFixed(2)} ms`,
    status: cacheRatio === undefined || p99Delta === undefined ? 'not measured' : cacheRatio >= 0.9 && p99Delta <= 1 ? 'met' : 'NOT met',
  });
  out.push(ratioCheck('resource path, one Redis lookup per request (gw-redis)', 'gw-redis', 0.75));
  out.push(ratioCheck("resource path, the gateway's JWT access tokens (gw-jwt)", 'gw-jwt', 0.9));
  const w1 = get('gw-cache');
  const w2 = get('gw-cache-w2');
  out.push({
    target: 'server.workers 2 vs 1 (gw-cache-w2 / gw-cache), everything on one server CPU',
    goal: 'reported: req/s ratio and CPU per request',
    measured:
      w1 && w2
        ? `${(w2.median.rps / w1.median.rps).toFixed(2)} x req/s, ${w2.median.mainUsPerRequest.toFixed(1)} vs ${w1.median.mainUsPerRequest.toFixed(1)} us/req`
        : '-',
    status: w1 && w2 ? 'reported' : 'not measured',
  });
  const nginxAuth = get('nginx-auth');
  const bareNginx = get('bare-nginx');
  const nginxRatio = nginxAuth && bareNginx ? nginxAuth.median.rps / bareNginx.median.rps : undefined;
  out.push({
    target: 'nginx auth_request, gateway decisions cached by nginx (nginx-auth)',
    goal: '>= 0.60 x bare nginx req/s',
    measured: nginxRatio === undefined ? '-' : `${nginxRatio.toFixed(2)} x`,
    status: nginxRatio === undefined ? 'not measured' : nginxRatio >= 0.6 ? 'met' : 'NOT met',
  });
  const ldap = get('token-ldap');
  const ref = get('ldap-setex');
  const ldapRatio = ldap && ref ? ldap.median.rps / ref.median.rps : undefined;
  const paced = get('token-ldap-paced');
  const tail = paced ? paced.median.p99Ms / paced.median.p50Ms : undefined;
  out.push({
    target: 'LDAP password grant, tail at 80 % of its peak (token-ldap-paced)',
    goal: 'p99 <= 4 x p50',
    measured:
      tail === undefined || !paced
        ? '-'
        : `p50 ${paced.median.p50Ms.toFixed(2)} ms, p99 ${paced.median.p99Ms.toFixed(2)} ms (${tail.toFixed(1)} x) at ${paced.median.rps.toFixed(0)} req/s`,
    status: tail === undefined ? 'not measured' : tail <= 4 ? 'met' : 'NOT met',
  });
  out.push({
    target: 'LDAP password grant (search-then-bind)',
    goal: '>= 0.50 x the minimal pooled-bind+SETEX server',
    measured:
      ldapRatio === undefined
        ? ref
          ? `reference ${ref.median.rps.toFixed(0)} req/s; gateway case not run`
          : '-'
        : `${ldapRatio.toFixed(2)} x`,
    status: ldapRatio === undefined ? 'not measured' : ldapRatio >= 0.5 ? 'met' : 'NOT met',
  });
  const worst = [...rss.entries()].sort((a, b) => b[1] - a[1])[0];
  out.push({
    target: 'memory after the runs',
    goal: 'RSS < 150 MB per gateway process (flat over a soak: see --soak)',
    measured: worst ? `max ${worst[1].toFixed(0)} MB (${worst[0]})` : '-',
    status: worst === undefined ? 'not measured' : worst[1] < 150 ? 'met' : 'NOT met',
  });
  return out;
}

/** What tracing costs: each traced case against the same case untraced (no target: reported). */
export interface TracingCost {
  readonly traced: string;
  readonly untraced: string;
  /** Traced req/s over untraced req/s. */
  readonly rpsRatio: number;
  /** Extra CPU µs per request of the gateway process. */
  readonly mainUsDelta: number;
  /** Extra p99 latency, ms. */
  readonly p99DeltaMs: number;
}

export function tracingCosts(cases: readonly CaseSummary[]): TracingCost[] {
  const out: TracingCost[] = [];
  for (const traced of cases.filter((c) => c.id.endsWith('-traced'))) {
    const untraced = cases.find((c) => c.id === traced.id.slice(0, -'-traced'.length));
    if (!untraced) continue;
    out.push({
      traced: traced.id,
      untraced: untraced.id,
      rpsRatio: traced.median.rps / untraced.median.rps,
      mainUsDelta: traced.median.mainUsPerRequest - untraced.median.mainUsPerRequest,
      p99DeltaMs: traced.median.p99Ms - untraced.median.p99Ms,
    });
  }
  return out;
}

export function tracingCostTable(costs: readonly TracingCost[]): string {
  if (costs.length === 0) return '  (run a *-traced case and its untraced twin to see it)';
  return costs
    .map(
      (c) =>
        `  ${c.traced} vs ${c.untraced}: ${c.rpsRatio.toFixed(2)} x req/s, ${c.mainUsDelta >= 0 ? '+' : ''}${c.mainUsDelta.toFixed(1)} us/req in the gateway, p99 ${c.p99DeltaMs >= 0 ? '+' : ''}${c.p99DeltaMs.toFixed(2)} ms`,
    )
    .join('\n');
}

export function targetsTable(checks: readonly TargetCheck[]): string {
  const w0 = Math.max(...checks.map((c) => c.target.length));
  const w1 = Math.max(...checks.map((c) => c.goal.length));
  const w2 = Math.max(...checks.map((c) => c.measured.length));
  return checks.map((c) => `${c.target.padEnd(w0)}  ${c.goal.padEnd(w1)}  ${c.measured.padEnd(w2)}  ${c.status}`).join('\n');
}
