/**
 * The fallback load generator (when wrk is not installed): autocannon in its own process, pinned
 * by the caller. Prints the same BENCH_JSON line as bench/wrk/bench.lua.
 * Usage: node autocannon.js '{"url","connections","duration","method","headers","body"}'
 */
interface Result {
  requests: { total: number; sent: number };
  latency: { p50: number; p90: number; p99: number; mean: number; max: number };
  duration: number;
  throughput: { total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<Result>;

const spec = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  connections: number;
  duration: number;
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutS: number;
  rate?: number;
  bodies?: string[];
};
const module = (await import('autocannon' as string)) as { default: Autocannon };
const r = await module.default({
  url: spec.url,
  connections: spec.connections,
  duration: spec.duration,
  method: spec.method,
  headers: spec.headers,
  timeout: spec.timeoutS,
  ...(spec.body ? { body: spec.body } : {}),
  // Each connection sends these in turn (the LDAP cases' users).
  ...(spec.bodies ? { requests: spec.bodies.map((body) => ({ method: spec.method, headers: spec.headers, body })) } : {}),
  ...(spec.rate !== undefined ? { overallRate: Math.max(1, Math.round(spec.rate)) } : {}),
});
const ms = (v: number): number => Math.round(v * 1000);
process.stdout.write(
  `BENCH_JSON ${JSON.stringify({
    requests: r.requests.total,
    durationUs: Math.round(r.duration * 1e6),
    bytes: r.throughput.total,
    connectErrors: 0,
    readErrors: r.errors - r.timeouts,
    writeErrors: 0,
    non2xx: r.non2xx,
    timeouts: r.timeouts,
    p50Us: ms(r.latency.p50),
    p90Us: ms(r.latency.p90),
    p99Us: ms(r.latency.p99),
    meanUs: ms(r.latency.mean),
    maxUs: ms(r.latency.max),
  })}\n`,
);
