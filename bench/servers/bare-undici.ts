/**
 * Floor for a Node proxy: node:http + undici `Pool.stream` passthrough (the fastest bare
 * Node proxy), no auth, no logging; hop-by-hop headers dropped both ways (undici refuses some).
 * Usage: node bare-undici.js PORT UPSTREAM_URL
 */
import http from 'node:http';
import { Pool } from 'undici';

const port = Number(process.argv[2]);
const target = String(process.argv[3]);
const pool = new Pool(target, { connections: 256, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

function withoutHop(headers: http.IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !HOP.has(name)) out[name] = value;
  }
  return out;
}

const server = http.createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.stream(
    { path: req.url ?? '/', method: req.method ?? 'GET', headers: withoutHop(req.headers), body: hasBody ? req : null, opaque: res },
    ({ statusCode, headers, opaque }) => {
      opaque.writeHead(statusCode, withoutHop(headers));
      return opaque;
    },
    (err) => {
      if (!err) return;
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('bad gateway');
      }
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
