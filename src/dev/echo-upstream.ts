/**
 * The dev-mode upstream: answers every request with JSON `{method, path, headers, body}` of
 * what it received, so a newcomer sees exactly what the gateway forwards.
 */
import http from 'node:http';

export function createEchoUpstream(): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const payload = JSON.stringify(
        { method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') },
        null,
        2,
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    });
  });
}
