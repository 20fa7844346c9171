/**
 * `npm run bench`: the side-by-side benchmark (method in docs/performance.md).
 *
 * Starts its own servers (upstream, redis-server, slapd, nginx, bare Node proxies, gateways
 * from dist/) pinned to one CPU, drives them with wrk (or autocannon) pinned to the other,
 * interleaves the cases over several rounds and reports medians, ratios and the targets.
 * Writes JSON to bench/results/. Exits non-zero when a case answers anything but 2xx under
 * load, or fails its pre-flight check. Not a test: `npm test` runs no timing assertion.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, UsageError, USAGE, type Options } from './lib/args.js';
import { CASES, caseDef, Lab, SkipError, type CaseDef, type Target } from './lib/lab.js';
import { detectLoadGenerator, type LoadGenerator, type LoadResult } from './lib/load.js';
import {
  cpuJiffies,
  treeCpuSeconds as cpuSeconds,
  detectPinning,
  killAll,
  LOAD_CPU,
  newestMtime,
  rssBytes,
  SERVER_CPU,
  sleep,
  stopAll,
} from './lib/proc.js';
import {
  addRatios,
  checkTargets,
  summarize,
  table,
  targetsTable,
  tracingCostTable,
  tracingCosts,
  type CaseSummary,
  type RoundResult,
} from './lib/report.js';
import { gatewayLimits, type Env } from './lib/services.js';
import { createMemoryCgroup } from './lib/cgroup.js';
import { runSoak } from './lib/soak.js';
import { runProfile } from './lib/profile.js';
import { EXPERIMENTS } from './lib/experiments.js';

const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bench/run.ts'))) return dir;
  }
  throw new Error('cannot find the repository root (package.json next to bench/run.ts)');
}

function log(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Rebuilds dist/ when a source file is newer than it (another engineer's change, or a fresh clone). */
function ensureBuilt(options: Options): void {
  const files = (dir: string, ext: string): string[] =>
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith(ext))
      .map((f) => join(dir, f));
  const distMain = join(ROOT, 'dist/main.js');
  const stale =
    !existsSync(distMain) ||
    newestMtime(files(join(ROOT, 'src'), '.ts')) > statSync(distMain).mtimeMs ||
    !existsSync(join(ROOT, 'dist/resource/undici-forwarder.js'));
  if (!stale) return;
  if (!options.build) {
    log('warning: dist/ is older than src/ and --no-build was given: measuring the old build');
    return;
  }
  log('dist/ is stale: npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    const out = `${r.stdout}${r.stderr}`
      .split('\n')
      .filter((l) => l.includes('error'))
      .slice(0, 15)
      .join('\n');
    if (!options.allowBuildErrors)
      throw new Error(`npm run build failed (pass --allow-build-errors to measure what tsc emitted anyway):\n${out}`);
    log(`warning: npm run build reported errors; measuring what tsc emitted anyway:\n${out}`);
  }
}

function selectCases(options: Options): CaseDef[] {
  const ids =
    options.cases === 'all'
      ? CASES.map((c) => c.id)
      : options.cases === 'default'
        ? CASES.filter((c) => c.byDefault).map((c) => c.id)
        : options.cases.split(',').filter(Boolean);
  const unknown = ids.filter((id) => !caseDef(id));
  if (unknown.length)
    throw new UsageError(
      `unknown case ${unknown.join(', ')} (known: ${CASES.map((c) => c.id).join(', ')}; gw-* cases take ~experiment suffixes)`,
    );
  return ids.filter((id) => !options.skip.includes(id)).map((id) => caseDef(id) as CaseDef);
}

function machine(gen: LoadGenerator): Record<string, unknown> {
  const version = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return r.error ? 'absent' : (`${r.stdout}${r.stderr}`.split('\n')[0]?.trim() ?? '');
  };
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    loadGenerator: gen.name === 'wrk' ? version('wrk', ['--version']) : gen.version,
    nginx: version('nginx', ['-v']),
    redis: version('redis-server', ['--version']),
    pinning: detectPinning().reason,
  };
}

interface Prepared {
  readonly def: CaseDef;
  readonly target: Target;
}

async function measure(gen: LoadGenerator, lab: Lab, p: Prepared, options: Options, round: number, rate?: number): Promise<RoundResult> {
  const spec = {
    ...p.target.load,
    connections: Math.min(options.connections, p.target.maxConnections ?? Infinity),
    ...(rate !== undefined ? { rate } : {}),
  };
  for (const s of p.target.services) s.truncateLog();
  await settle((await lab.services()).flatMap((s) => s.pids));
  if (options.warmup > 0) await gen.run({ ...spec, seconds: options.warmup });
  const all = (await lab.services()).flatMap((s) => s.pids);
  const mine = p.target.services.flatMap((s) => s.pids);
  const cpu0 = cpuJiffies();
  const allBefore = all.reduce((a, pid) => a + cpuSeconds(pid), 0);
  const mineBefore = mine.reduce((a, pid) => a + cpuSeconds(pid), 0);
  const main = mine[0] ?? 0;
  const mainBefore = cpuSeconds(main);
  const t0 = Date.now();
  const r: LoadResult = await gen.run({ ...spec, seconds: options.duration });
  const wall = (Date.now() - t0) / 1000;
  const cpu1 = cpuJiffies();
  const allCores = (all.reduce((a, pid) => a + cpuSeconds(pid), 0) - allBefore) / wall;
  const mineCpu = mine.reduce((a, pid) => a + cpuSeconds(pid), 0) - mineBefore;
  const mainCpu = cpuSeconds(main) - mainBefore;
  const serverCores = mineCpu / wall;
  const busy = (cpu: number): number | undefined => {
    const a = cpu0[cpu];
    const b = cpu1[cpu];
    return a && b && b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : undefined;
  };
  const pinned = detectPinning().enabled;
  const serverBusy = pinned ? busy(SERVER_CPU) : undefined;
  return {
    ...r,
    round,
    serverCores,
    cpuUsPerRequest: r.requests ? (mineCpu / r.requests) * 1e6 : Number.NaN,
    mainUsPerRequest: r.requests ? (mainCpu / r.requests) * 1e6 : Number.NaN,
    foreignOnServerCpu: serverBusy === undefined ? undefined : Math.max(0, serverBusy - allCores),
    loadCpuBusy: pinned ? busy(LOAD_CPU) : undefined,
    loadavg: loadavg()[0] ?? 0,
  };
}

/**
 * Waits (at most 30 s) until the given processes are nearly idle: a server may still be working
 * off requests queued during the previous case (argon2id verifications, LDAP binds), which must
 * not run during the next measurement.
 */
async function settle(pids: readonly number[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const before = pids.reduce((a, pid) => a + cpuSeconds(pid), 0);
    await sleep(300);
    if (pids.reduce((a, pid) => a + cpuSeconds(pid), 0) - before <= 0.03) return;
  }
}

async function benchmark(options: Options, _env: Env, gen: LoadGenerator, lab: Lab): Promise<number> {
  const selected = selectCases(options);
  const failures: string[] = [];
  const prepared: Prepared[] = [];
  log(`starting servers for ${selected.length} cases…`);
  for (const def of selected) {
    const why = await lab.unavailable(def.id);
    if (why) {
      lab.skipped.set(def.id, why);
      log(`  skip ${def.id}: ${why}`);
      continue;
    }
    try {
      const target = await lab.target(def.id);
      await target.preflight();
      prepared.push({ def, target });
      log(`  ready ${def.id}${target.note ? ` (${target.note})` : ''}`);
    } catch (err) {
      if (err instanceof SkipError) {
        lab.skipped.set(def.id, err.message);
        log(`  skip ${def.id}: ${err.message}`);
      } else {
        failures.push(`${def.id}: pre-flight failed: ${(err as Error).message}`);
        log(`  FAILED ${def.id}: ${(err as Error).message}`);
      }
    }
  }
  const features = lab.features;
  log(
    `gateway in dist/: cache ${features?.cacheWired ? 'wired' : 'not wired'}, ldap validator ${features?.ldapValidator ? 'present' : 'absent'}`,
  );

  const results = new Map<string, RoundResult[]>(prepared.map((p) => [p.def.id, []]));
  const perRound = options.warmup + options.duration + 1;
  log(
    `\n${options.rounds} round(s) x ${prepared.length} cases x ${perRound} s ≈ ${Math.ceil((options.rounds * prepared.length * perRound) / 60)} min; ${options.connections} connections\n`,
  );
  for (let round = 1; round <= options.rounds; round++) {
    // Rotate the order each round so no case always runs first (or right after the same one).
    // A paced case runs right after the case it paces, at a share of the rate that case just reached.
    const free = prepared.filter((p) => !p.target.paced);
    const offset = (round - 1) % Math.max(1, free.length);
    const order = [...free.slice(offset), ...free.slice(0, offset)].flatMap((p) => [
      p,
      ...prepared.filter((q) => q.target.paced?.of === p.def.id),
    ]);
    for (const p of order) {
      const pace = p.target.paced;
      const rate = pace ? (results.get(pace.of)?.at(-1)?.rps ?? 0) * pace.share : undefined;
      if (rate !== undefined && !(rate >= 1)) {
        log(`  r${round} ${p.def.id}: skipped (${pace?.of} was not measured in this run)`);
        continue;
      }
      const r = await measure(gen, lab, p, options, round, rate);
      results.get(p.def.id)?.push(r);
      const bad = r.non2xx > 0 || r.socketErrors > 0 || r.requests === 0;
      log(
        `  r${round} ${p.def.id.padEnd(22)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2).padStart(7)} ms  p99 ${r.p99Ms.toFixed(2).padStart(7)} ms` +
          `  ${r.mainUsPerRequest.toFixed(1).padStart(6)} us/req (${r.cpuUsPerRequest.toFixed(1)} all)${r.foreignOnServerCpu !== undefined ? `, foreign ${Math.round(r.foreignOnServerCpu * 100)}%` : ''}${bad ? `  <-- ${r.non2xx} non-2xx, ${r.socketErrors} socket errors` : ''}`,
      );
      if (bad) {
        failures.push(`${p.def.id} round ${round}: ${r.non2xx} non-2xx answers, ${r.socketErrors} socket errors, ${r.requests} requests`);
        log(p.target.services.map((s) => s.logTail()).join('\n'));
      }
      await sleep(500);
    }
  }

  const rss = new Map<string, number>();
  for (const s of await lab.services()) {
    if (!s.name.startsWith('gw-')) continue;
    const bytes = rssBytes(s.pids[0] ?? 0);
    if (bytes !== undefined) rss.set(s.name, bytes / 2 ** 20);
  }
  const summaries: CaseSummary[] = prepared.map((p) => {
    const summary = summarize(p.def, results.get(p.def.id) ?? [], p.target.note);
    const gw = p.target.services.find((s) => s.name.startsWith('gw-'));
    const mb = gw ? rss.get(gw.name) : undefined;
    if (mb !== undefined) summary.rssMb = mb;
    return summary;
  });
  const { fastestBare } = addRatios(summaries);
  const checks = checkTargets(summaries, rss);
  const tracing = tracingCosts(summaries);

  log(
    `\nResults: medians of ${options.rounds} round(s), ${options.duration} s each, ${options.connections} connections, ${gen.name}; ${detectPinning().reason}`,
  );
  log(
    `x hp3 = ratio to bare http-proxy-3; x fastest = ratio to the fastest bare Node proxy (${fastestBare?.id ?? 'none measured'}); p99 d = p99 minus its p99;`,
  );
  log(
    "us/req = CPU time per request of the case's servers (proxy or gateway + upstream + Redis/slapd); main = of the proxy or gateway process alone;",
  );
  log(
    'foreign = busy share of the server CPU taken by processes outside the benchmark (contention: req/s suffers first, us/req much less)\n',
  );
  log(table(summaries, options.rounds));
  if (lab.skipped.size) {
    log('\nskipped:');
    for (const [id, why] of lab.skipped) log(`  ${id}: ${why}`);
  }
  log('\ntargets (docs/performance.md):');
  log(targetsTable(checks));
  log('\ntracing on (tracing.enabled, every request exported) vs off:');
  log(tracingCostTable(tracing));

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(ROOT, 'bench/results', `bench-${stamp}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        finishedAt: new Date().toISOString(),
        machine: machine(gen),
        options,
        features,
        notes: lab.notes,
        skipped: Object.fromEntries(lab.skipped),
        fastestBare: fastestBare?.id,
        cases: summaries,
        rssMb: Object.fromEntries(rss),
        targets: checks,
        tracing,
        failures,
      },
      null,
      2,
    )}\n`,
  );
  log(`\nJSON: ${file}`);
  if (failures.length) {
    log(`\nFAILED — ${failures.length} problem(s):`);
    for (const f of failures) log(`  ${f}`);
    return 1;
  }
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (options === 'help') {
    log(USAGE);
    log('cases (* = in the default run):');
    for (const c of CASES) log(`  ${c.byDefault ? '*' : ' '} ${c.id.padEnd(24)} ${c.label}`);
    log('\nexperiments (append to a gw-* case: gw-cache~a+b; see bench/lib/experiments.ts):');
    for (const e of EXPERIMENTS) log(`    ${e.id.padEnd(22)} ${e.title}`);
    return 0;
  }
  ensureBuilt(options);
  const env: Env = { root: ROOT, dir: mkdtempSync(join(tmpdir(), 'ropc-bench-')), benchOut: resolve(ROOT, '.tmp/bench') };
  if (options.memoryLimit !== undefined) gatewayLimits.cgroup = createMemoryCgroup(options.memoryLimit);
  const cleanup = (): void => {
    killAll();
    rmSync(env.dir, { recursive: true, force: true });
    gatewayLimits.cgroup?.remove();
  };
  process.once('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`\n${signal}: stopping the servers`);
      cleanup();
      process.exit(130);
    });
  }
  const gen = detectLoadGenerator(ROOT, options.load);
  const m = machine(gen);
  log(
    `machine: ${m['cpus']} CPU (${m['cpuModel']}), node ${m['node']}, ${m['loadGenerator']}; ${m['pinning']}; load average ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  if (gatewayLimits.cgroup) log(`every gateway in a memory cgroup of ${gatewayLimits.cgroup.limitMb} MB (${gatewayLimits.cgroup.procs})`);
  const lab = new Lab(env);
  try {
    if (options.soak !== undefined) return await runSoak(options, env, gen, lab, log);
    if (options.profile !== undefined) return await runProfile(options, env, gen, lab, log);
    return await benchmark(options, env, gen, lab);
  } finally {
    await stopAll();
    const kills = gatewayLimits.cgroup?.oomKills() ?? 0;
    if (kills)
      log(`the kernel killed ${kills} process(es) of the gateways' memory cgroup for memory (--memory-limit ${options.memoryLimit})`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
