/**
 * The benchmark's trace collector: accepts OTLP/HTTP JSON on POST /v1/traces (what the gateway's
 * exporter sends with tracing.enabled), counts the spans and answers 200; GET /__count answers
 * {"requests":N,"spans":M} (pre-flight checks). Usage: node otlp-sink.js PORT
 */
import http from 'node:http';

const port = Number(process.argv[2]);
let requests = 0;
let spans = 0;

interface ExportRequest {
  resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[];
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/__count') {
    const body = JSON.stringify({ requests, spans });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      res.writeHead(404, { 'content-length': 0 }).end();
      return;
    }
    requests += 1;
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportRequest;
      for (const rs of parsed.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0;
    } catch {
      res.writeHead(400, { 'content-length': 0 }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
