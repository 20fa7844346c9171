/**
 * The benchmark's upstream: a tiny node:http server answering every request with the same
 * small JSON document (keep-alive), and `/__echo` with the headers it received (pre-flight
 * checks). Usage: node upstream.js PORT
 */
import http from 'node:http';

const port = Number(process.argv[2]);
const BODY = Buffer.from(JSON.stringify({ id: 42, name: 'widget', tags: ['a', 'b'], ok: true }));

const server = http.createServer((req, res) => {
  if (req.url === '/__echo') {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  // Drain a request body (token-like POSTs through a proxy) before answering.
  if (req.headers['content-length'] || req.headers['transfer-encoding']) req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
