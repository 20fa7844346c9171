-- wrk script of the benchmark: the request comes from the environment (set by bench/lib/load.ts),
-- and done() prints one machine-readable line with the totals and latency percentiles.
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
local auth = os.getenv("BENCH_AUTH") or ""
local ctype = os.getenv("BENCH_CONTENT_TYPE") or ""

wrk.method = method
if body ~= "" then wrk.body = body end
if auth ~= "" then wrk.headers["Authorization"] = auth end
if ctype ~= "" then wrk.headers["Content-Type"] = ctype end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"non2xx":%d,"timeouts":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"meanUs":%.1f,"maxUs":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
