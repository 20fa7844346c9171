/**
 * Soak mode (`--soak S`): S seconds of load on one case in intervals, reporting per interval the
 * throughput, the gateway's RSS (from /proc: at the interval's end and the largest of the
 * once-a-second readings), its V8 heap and external memory, and its event-loop delay
 * (prom-client's monitorEventLoopDelay histogram on the admin port, reset at every scrape).
 * With `--soak-mix N` (the default, N = 2) token sessions run beside the load: logins, refreshes
 * and revocations (bench/lib/soak-mix.ts), counted per interval. The verdict is
 * bench/lib/soak-stats.ts's flatness rule; the method is in docs/performance.md, "Memory".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Options } from './args.js';
import { caseDef, type Lab } from './lab.js';
import type { LoadGenerator, LoadResult } from './load.js';
import { rssBytes } from './proc.js';
import { startMix, type Mix, type MixCounts } from './soak-mix.js';
import { flatness } from './soak-stats.js';
import { slapdMissing, type Env, type GatewayService } from './services.js';

/** The target of the performance issue: RSS per process, docs/performance.md, "Targets". */
const RSS_LIMIT_MB = 150;

/**
 * The gateway's default `upstream.maxConcurrentPerSubject`: the load and the sessions are one
 * user, so together they must stay below it, with room for the requests a load run abandons
 * at its end (they hold their slot until the gateway sees the socket close), or they get 429.
 */
const SUBJECT_LIMIT = 64;
const MIX_IN_FLIGHT = 8;
const SUBJECT_MARGIN = 16;

interface Sample {
  readonly t: number;
  readonly rps: number;
  /** Of the interval's own load run; undefined with one run for the whole soak. */
  readonly p99Ms: number | undefined;
  /** Non-2xx answers of the resource path, the revoked-token 401s of the sessions left out. */
  readonly non2xx: number;
  readonly socketErrors: number;
  readonly rssMb: number | undefined;
  /** The largest once-a-second RSS reading during the interval. */
  readonly rssMaxMb: number | undefined;
  /**
   * The smallest: the floor under the transients (64 MiB per argon2id verification in flight),
   * where a leak shows first.
   */
  readonly rssMinMb: number | undefined;
  readonly heapMb: number | undefined;
  readonly heapTotalMb: number | undefined;
  /** V8 external memory (Buffers and ArrayBuffers included). */
  readonly externalMb: number | undefined;
  readonly loopP99Ms: number | undefined;
  readonly loopMaxMs: number | undefined;
  readonly mix: MixCounts | undefined;
}

function metric(text: string, suffix: string): number | undefined {
  const m = new RegExp(`^\\w*${suffix}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const mb = (bytes: number | undefined): number | undefined => (bytes === undefined ? undefined : bytes / 2 ** 20);
const range = (xs: readonly (number | undefined)[]): string => {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length ? `${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)}` : '-';
};

export async function runSoak(options: Options, env: Env, gen: LoadGenerator, lab: Lab, log: (l?: string) => void): Promise<number> {
  const seconds = options.soak ?? 0;
  const id = options.soakCase;
  if (!caseDef(id)) throw new Error(`--soak-case: unknown case ${id}`);
  const why = await lab.unavailable(id);
  if (why) throw new Error(`--soak-case ${id} cannot run here: ${why}`);
  const ldap = options.soakMix > 0 && options.soakLogin === 'ldap';
  if (ldap) {
    const missing = slapdMissing() ?? (lab.features?.ldapValidator ? undefined : 'the ldap validator is not in dist/');
    if (missing) throw new Error(`--soak-login ldap: ${missing}`);
  }
  const target = await lab.target(id, { ldap });
  if (ldap && lab.ldapFailure) throw new Error(`--soak-login ldap: ${lab.ldapFailure}`);
  await target.preflight();
  const gw = target.services.find((s): s is GatewayService => 'adminUrl' in s);
  const pid = target.services[0]?.pids[0] ?? 0;
  if (options.soakMix > 0 && !gw) throw new Error(`--soak-mix needs a gateway case (${id} has none): pass --no-soak-mix`);
  const mixing = options.soakMix > 0 && gw !== undefined;
  const connections = Math.min(
    options.connections,
    target.maxConnections ?? Infinity,
    mixing ? SUBJECT_LIMIT - MIX_IN_FLIGHT - SUBJECT_MARGIN : Infinity,
  );
  log(
    `soak: ${id} for ${seconds} s in ${options.interval} s intervals, ${connections} connections` +
      `${connections < options.connections && mixing ? ` (not ${options.connections}: one user with the sessions, below upstream.maxConcurrentPerSubject ${SUBJECT_LIMIT})` : ''}` +
      `${mixing ? `, ${options.soakMix} token sessions/s (${options.soakLogin} login, refresh, 2 revocations each)` : ', resource path only'}${target.note ? ` (${target.note})` : ''}`,
  );
  log(
    `    t s    req/s   p99 ms  non-2xx   RSS MB  RSS min  RSS max  heap MB   ext MB  loop p99  loop max${mixing ? '  logins  refr  revoc  rev401  unexp  skip' : ''}`,
  );
  const samples: Sample[] = [];
  let overall: LoadResult | undefined;
  const started = Date.now();
  if (gw) await fetch(`${gw.adminUrl}/metrics`).then((r) => r.text()); // reset the event-loop histogram
  let rssPeak = 0;
  let rssFloor = Infinity;
  const rssTimer = setInterval(() => {
    const now = rssBytes(pid);
    if (now === undefined) return;
    rssPeak = Math.max(rssPeak, now);
    rssFloor = Math.min(rssFloor, now);
  }, 1000);
  const base = await lab.credentials();
  // The ldap client of the gateway (services.ts) has the same secret, and slapd the same user.
  const creds = ldap ? { ...base, clientId: `${base.clientId}-ldap` } : base;
  const mix: Mix | undefined = mixing
    ? startMix(
        { url: gw.url, creds, resourcePath: '/api/items?page=1', tokenPath: '/as/token.oauth2', revocationPath: '/as/revoke_token.oauth2' },
        options.soakMix,
        MIX_IN_FLIGHT,
      )
    : undefined;
  try {
    // With a gateway, one load run for the whole soak, sampled from the gateway's counters: a
    // run per interval would abandon its in-flight requests at every interval's end (which
    // trips the fair-share slot leak described in docs/performance.md, "Memory").
    const whole = gw ? gen.run({ ...target.load, connections, seconds }) : undefined;
    let last = gw ? resourceAnswers(await fetch(`${gw.adminUrl}/metrics`).then((res) => res.text())) : { ok: 0, other: 0 };
    let lastAt = Date.now();
    for (let elapsed = 0; elapsed < seconds; elapsed += options.interval) {
      const slice = Math.min(options.interval, seconds - elapsed);
      const r = whole ? undefined : await gen.run({ ...target.load, connections, seconds: slice });
      if (whole) await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + (elapsed + slice) * 1000 - Date.now())));
      for (const s of target.services) s.truncateLog();
      const text = gw
        ? await fetch(`${gw.adminUrl}/metrics`)
            .then((res) => res.text())
            .catch(() => '')
        : '';
      const answers = resourceAnswers(text);
      const mixed = mix?.take();
      const rss = rssBytes(pid);
      rssPeak = Math.max(rssPeak, rss ?? 0);
      rssFloor = Math.min(rssFloor, rss ?? Infinity);
      const p99 = metric(text, 'nodejs_eventloop_lag_p99_seconds');
      const max = metric(text, 'nodejs_eventloop_lag_max_seconds');
      const sample: Sample = {
        t: Math.round((Date.now() - started) / 1000),
        rps: r ? r.rps : (answers.ok + answers.other - last.ok - last.other) / ((Date.now() - lastAt) / 1000),
        p99Ms: r?.p99Ms,
        non2xx: r ? r.non2xx : Math.max(0, answers.other - last.other - (mixed?.revoked401 ?? 0)),
        socketErrors: r ? r.socketErrors : 0,
        rssMb: mb(rss),
        rssMaxMb: rssPeak > 0 ? mb(rssPeak) : undefined,
        rssMinMb: Number.isFinite(rssFloor) ? mb(rssFloor) : undefined,
        heapMb: mb(metric(text, 'nodejs_heap_size_used_bytes')),
        heapTotalMb: mb(metric(text, 'nodejs_heap_size_total_bytes')),
        externalMb: mb(metric(text, 'nodejs_external_memory_bytes')),
        loopP99Ms: p99 === undefined ? undefined : p99 * 1000,
        loopMaxMs: max === undefined ? undefined : max * 1000,
        mix: mixed,
      };
      rssPeak = 0;
      rssFloor = Infinity;
      last = answers;
      lastAt = Date.now();
      samples.push(sample);
      const f = (v: number | undefined, w: number, d = 1): string => (v === undefined ? '-' : v.toFixed(d)).padStart(w);
      const m = sample.mix;
      log(
        `${f(sample.t, 6, 0)} ${f(sample.rps, 8, 0)} ${f(sample.p99Ms, 8, 2)} ${f(sample.non2xx + sample.socketErrors, 8, 0)} ${f(sample.rssMb, 8)} ${f(sample.rssMinMb, 8)} ${f(sample.rssMaxMb, 8)} ${f(sample.heapMb, 8)} ${f(sample.externalMb, 8)} ${f(sample.loopP99Ms, 9, 2)} ${f(sample.loopMaxMs, 9, 2)}` +
          (m
            ? ` ${f(m.logins, 7, 0)} ${f(m.refreshes, 5, 0)} ${f(m.revocations, 6, 0)} ${f(m.revoked401, 7, 0)} ${f(m.unexpected, 6, 0)} ${f(m.skipped, 5, 0)}`
            : ''),
      );
    }
    if (whole) {
      const r = await whole;
      overall = r;
      log(
        `the whole run: ${r.requests} requests, p99 ${r.p99Ms.toFixed(2)} ms, ${r.non2xx} non-2xx, ${r.socketErrors} socket errors (per interval above: the gateway's counters, the sessions' resource requests included)`,
      );
    }
  } finally {
    clearInterval(rssTimer);
    await mix?.stop();
  }
  const late = mix?.take();
  const leaked = gw && target.load.authorization ? await restingRefusals(target.load.url, target.load.authorization) : undefined;
  const verdict = flatness(samples.map((s) => s.rssMb));
  const floor = flatness(samples.map((s) => s.rssMinMb));
  const rssMax = Math.max(...samples.map((s) => s.rssMaxMb ?? 0));
  const errors = overall ? overall.non2xx + overall.socketErrors : samples.reduce((a, s) => a + s.non2xx + s.socketErrors, 0);
  const total = samples.reduce<MixCounts | undefined>((acc, s) => {
    if (!s.mix) return acc;
    const out = { ...(acc ?? s.mix) };
    if (acc) for (const k of Object.keys(out) as (keyof MixCounts)[]) out[k] += s.mix[k];
    return out;
  }, undefined);
  if (total && late) for (const k of Object.keys(total) as (keyof MixCounts)[]) total[k] += late[k];
  log(
    `\nRSS first ${verdict.first?.toFixed(1) ?? '-'} MB, last ${verdict.last?.toFixed(1) ?? '-'} MB, max ${rssMax.toFixed(1)} MB (once-a-second readings); ` +
      `last third vs middle third ${(verdict.growth * 100).toFixed(1)}% → ${verdict.flat ? 'flat' : 'NOT flat'}; ${rssMax < RSS_LIMIT_MB ? 'below' : 'ABOVE'} ${RSS_LIMIT_MB} MB`,
  );
  log(
    `RSS floor (each interval's smallest reading) first ${floor.first?.toFixed(1) ?? '-'} MB, last ${floor.last?.toFixed(1) ?? '-'} MB, max ${floor.max?.toFixed(1) ?? '-'} MB; ` +
      `last third vs middle third ${(floor.growth * 100).toFixed(1)}% → ${floor.flat ? 'flat' : 'NOT flat'}`,
  );
  log(
    `heap used ${range(samples.map((s) => s.heapMb))} MB (total ${range(samples.map((s) => s.heapTotalMb))} MB), external ${range(samples.map((s) => s.externalMb))} MB`,
  );
  log(
    `event-loop delay p99: median ${mean(samples.map((s) => s.loopP99Ms ?? 0)).toFixed(2)} ms, worst interval max ${Math.max(...samples.map((s) => s.loopMaxMs ?? 0)).toFixed(2)} ms`,
  );
  if (total) {
    log(
      `token sessions: ${total.sessions} started (${total.skipped} skipped because ${mix?.maxInFlight ?? 0} were still running), ${total.logins} logins, ${total.refreshes} refreshes, ${total.revocations} revocations; ` +
        `resource requests of the sessions: ${total.resourceOk} 2xx, ${total.revoked401} revoked-token 401 (expected), ${total.unexpected} unexpected`,
    );
    for (const p of mix?.problems ?? []) log(`  unexpected: ${p}`);
  }
  if (leaked !== undefined) {
    log(
      `at rest, ${SUBJECT_LIMIT} requests of the load's user at once: ${leaked} refused with 429` +
        (leaked > 0
          ? ' — fair-share slots (upstream.maxConcurrentPerSubject) held by no request: a leak, see docs/performance.md, "Memory"'
          : ''),
    );
  }
  const file = join(env.root, 'bench/results', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        case: id,
        seconds,
        interval: options.interval,
        connections,
        soakMix: mixing ? options.soakMix : 0,
        soakLogin: mixing ? options.soakLogin : undefined,
        note: target.note,
        samples,
        rss: { ...verdict, maxMb: rssMax, limitMb: RSS_LIMIT_MB },
        rssFloor: floor,
        errors,
        mix: total,
        problems: mix?.problems ?? [],
        restingRefusals: leaked,
      },
      null,
      2,
    )}\n`,
  );
  log(`JSON: ${file}`);
  const unexpected = total?.unexpected ?? 0;
  if (errors > 0 || unexpected > 0 || (leaked ?? 0) > 0) {
    log(
      `FAILED: ${errors} non-2xx answers or socket errors under load, ${unexpected} unexpected answers to the token sessions, ${leaked ?? 0} refusals at rest`,
    );
    return 1;
  }
  return 0;
}

/**
 * After the load, with nothing in flight: {@link SUBJECT_LIMIT} requests of the load's user at
 * once. Every 429 is a fair-share slot that no request holds any more. A lower bound: requests
 * the upstream answers before the last ones arrive free their slots early.
 */
async function restingRefusals(url: string, authorization: string): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 2000)); // the load's abandoned requests finish
  const statuses = await Promise.all(
    Array.from({ length: SUBJECT_LIMIT }, () =>
      fetch(url, { headers: { authorization } }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
        () => 0,
      ),
    ),
  );
  return statuses.filter((s) => s === 429).length;
}

/** Answers of the resource path so far, 2xx and others, from `ropc_http_requests_total{kind="resource"}`. */
function resourceAnswers(text: string): { ok: number; other: number } {
  let ok = 0;
  let other = 0;
  for (const m of text.matchAll(/^ropc_http_requests_total\{([^}]*)\} ([0-9.eE+-]+)$/gm)) {
    const labels = m[1] ?? '';
    if (!/kind="resource"/.test(labels)) continue;
    const status = /status="(\d+)"/.exec(labels)?.[1] ?? '';
    if (status.startsWith('2')) ok += Number(m[2]);
    else other += Number(m[2]);
  }
  return { ok, other };
}
