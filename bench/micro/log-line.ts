/**
 * Micro-benchmark of the completion log line (docs/performance.md, "The completion log line"):
 * the same line as src/http/server.ts `complete` writes, through the gateway's logger
 * (src/observability/logger.ts, from dist/) with
 *
 *   - `per-line`: pino's default destination (one asynchronous write per line), the old setup;
 *   - `batched`:  stdoutDestination(), what `ropc-gateway start` uses now;
 *   - `no-redact`: the batched destination without the redaction paths, to show what they cost;
 *   - `writer`:   the batched destination through src/observability/request-log.ts, what
 *                 src/http/server.ts writes the completion line with now.
 *
 * Run with stdout on a pipe, as under a container runtime:
 *   npm run bench:log            (= tsc, then node .tmp/bench/micro/log-line.js | cat > /dev/null)
 * Prints µs of CPU per line (user + system of this process, the write syscalls included) on stderr.
 */
import { pino } from 'pino';

const LINES = Number(process.env['LINES'] ?? 200_000);

async function main(): Promise<void> {
  const mod = (await import(new URL('../../../dist/observability/logger.js', import.meta.url).href)) as {
    createLogger(level: string, destination?: pino.DestinationStream): pino.Logger;
    stdoutDestination(): pino.DestinationStream;
    flushLogs(): void;
  };
  const log = (await import(new URL('../../../dist/observability/request-log.js', import.meta.url).href)) as {
    completionWriter(logger: pino.Logger): (fields: typeof FIELDS) => void;
  };
  const variants: Record<string, () => pino.Logger> = {
    'per-line': () => mod.createLogger('info'),
    batched: () => mod.createLogger('info', mod.stdoutDestination()),
    'no-redact': () =>
      pino(
        {
          level: 'info',
          base: { service: 'ropc-gateway' },
          timestamp: pino.stdTimeFunctions.isoTime,
          formatters: { level: (label) => ({ level: label }) },
        },
        mod.stdoutDestination(),
      ),
    writer: () => mod.createLogger('info', mod.stdoutDestination()),
  };
  const only = process.argv[2];
  for (const [name, make] of Object.entries(variants)) {
    if (only && only !== name) continue;
    const logger = make();
    const write = name === 'writer' ? log.completionWriter(logger) : (fields: typeof FIELDS) => logger.info(fields, 'request');
    await run(write, LINES / 10); // warm-up
    const before = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await run(write, LINES);
    const cpu = process.cpuUsage(before);
    const wall = Number(process.hrtime.bigint() - t0) / 1e3;
    mod.flushLogs();
    process.stderr.write(
      `${name.padEnd(10)} ${((cpu.user + cpu.system) / LINES).toFixed(2)} µs CPU/line  (${(wall / LINES).toFixed(2)} µs wall)\n`,
    );
  }
}

const FIELDS = {
  reqId: '7e96a78a-0b18-4296-a82a-c4f1e411d543',
  method: 'GET',
  kind: 'resource',
  route: '/api/**',
  status: 200,
  ms: 1.3,
  clientId: 'app',
  sub: 'joe',
};

/** Lines in bursts of 50 with a macrotask between, like 50 connections' requests completing. */
async function run(write: (fields: typeof FIELDS) => void, lines: number): Promise<void> {
  for (let i = 0; i < lines; i += 50) {
    for (let j = 0; j < 50; j++) write({ ...FIELDS, ms: j / 10 });
    await new Promise((r) => setImmediate(r));
  }
}

await main();
