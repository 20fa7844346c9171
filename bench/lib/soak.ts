/**
 * Soak mode (`--soak S`): S seconds of load on one case in intervals, reporting per interval the
 * throughput, the gateway's RSS (from /proc) and heap, and its event-loop delay (prom-client's
 * monitorEventLoopDelay histogram on the admin port, reset at every scrape). RSS is "flat"
 * when the mean of the last third of the samples is within 5 % of the middle third's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Options } from './args.js';
import { caseDef, type Lab } from './lab.js';
import type { LoadGenerator } from './load.js';
import { rssBytes } from './proc.js';
import type { Env, GatewayService } from './services.js';

interface Sample {
  readonly t: number;
  readonly rps: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  readonly rssMb: number | undefined;
  readonly heapMb: number | undefined;
  readonly loopP99Ms: number | undefined;
  readonly loopMaxMs: number | undefined;
}

function metric(text: string, suffix: string): number | undefined {
  const m = new RegExp(`^\\w*${suffix}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function runSoak(options: Options, env: Env, gen: LoadGenerator, lab: Lab, log: (l?: string) => void): Promise<number> {
  const seconds = options.soak ?? 0;
  const id = options.soakCase;
  if (!caseDef(id)) throw new Error(`--soak-case: unknown case ${id}`);
  const why = await lab.unavailable(id);
  if (why) throw new Error(`--soak-case ${id} cannot run here: ${why}`);
  const target = await lab.target(id);
  await target.preflight();
  const gw = target.services.find((s): s is GatewayService => 'adminUrl' in s);
  const pid = target.services[0]?.pids[0] ?? 0;
  log(`soak: ${id} for ${seconds} s in ${options.interval} s intervals, ${options.connections} connections${target.note ? ` (${target.note})` : ''}`);
  log('    t s    req/s   p99 ms  non-2xx   RSS MB  heap MB  loop p99 ms  loop max ms');
  const samples: Sample[] = [];
  const started = Date.now();
  if (gw) await fetch(`${gw.adminUrl}/metrics`).then((r) => r.text()); // reset the event-loop histogram
  for (let elapsed = 0; elapsed < seconds; elapsed += options.interval) {
    const r = await gen.run({ ...target.load, connections: Math.min(options.connections, target.maxConnections ?? Infinity), seconds: Math.min(options.interval, seconds - elapsed) });
    for (const s of target.services) s.truncateLog();
    const text = gw ? await fetch(`${gw.adminUrl}/metrics`).then((res) => res.text()).catch(() => '') : '';
    const rss = rssBytes(pid);
    const heap = metric(text, 'nodejs_heap_size_used_bytes');
    const p99 = metric(text, 'nodejs_eventloop_lag_p99_seconds');
    const max = metric(text, 'nodejs_eventloop_lag_max_seconds');
    const sample: Sample = {
      t: Math.round((Date.now() - started) / 1000),
      rps: r.rps,
      p99Ms: r.p99Ms,
      non2xx: r.non2xx,
      socketErrors: r.socketErrors,
      rssMb: rss === undefined ? undefined : rss / 2 ** 20,
      heapMb: heap === undefined ? undefined : heap / 2 ** 20,
      loopP99Ms: p99 === undefined ? undefined : p99 * 1000,
      loopMaxMs: max === undefined ? undefined : max * 1000,
    };
    samples.push(sample);
    const f = (v: number | undefined, w: number, d = 1): string => (v === undefined ? '-' : v.toFixed(d)).padStart(w);
    log(`${f(sample.t, 6, 0)} ${f(sample.rps, 8, 0)} ${f(sample.p99Ms, 8, 2)} ${f(sample.non2xx + sample.socketErrors, 8, 0)} ${f(sample.rssMb, 8)} ${f(sample.heapMb, 8)} ${f(sample.loopP99Ms, 12, 2)} ${f(sample.loopMaxMs, 12, 2)}`);
  }
  const rss = samples.map((s) => s.rssMb).filter((v): v is number => v !== undefined);
  const third = Math.max(1, Math.floor(rss.length / 3));
  const middle = mean(rss.slice(third, 2 * third));
  const last = mean(rss.slice(-third));
  const growth = middle > 0 ? (last - middle) / middle : 0;
  const flat = Math.abs(growth) < 0.05;
  const errors = samples.reduce((a, s) => a + s.non2xx + s.socketErrors, 0);
  log(`\nRSS first ${rss[0]?.toFixed(1) ?? '-'} MB, last ${rss.at(-1)?.toFixed(1) ?? '-'} MB, max ${Math.max(...rss).toFixed(1)} MB; last third vs middle third ${(growth * 100).toFixed(1)}% → ${flat ? 'flat' : 'NOT flat'}`);
  log(`event-loop delay p99: median ${mean(samples.map((s) => s.loopP99Ms ?? 0)).toFixed(2)} ms, worst interval max ${Math.max(...samples.map((s) => s.loopMaxMs ?? 0)).toFixed(2)} ms`);
  const file = join(env.root, 'bench/results', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ case: id, seconds, interval: options.interval, connections: options.connections, note: target.note, samples, rss: { growth, flat, maxMb: Math.max(...rss) }, errors }, null, 2)}\n`);
  log(`JSON: ${file}`);
  if (errors > 0) {
    log(`FAILED: ${errors} non-2xx answers or socket errors under load`);
    return 1;
  }
  return 0;
}
