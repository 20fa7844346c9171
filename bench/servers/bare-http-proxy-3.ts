/**
 * An older floor for a Node proxy: http-proxy-3 passthrough with a keep-alive agent (what the
 * gateway forwarded with before undici; it now serves only WebSocket upgrades,
 * src/resource/websocket-proxy.ts), no auth, no logging. Usage: node bare-http-proxy-3.js PORT UPSTREAM_URL
 */
import http from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const port = Number(process.argv[2]);
const target = String(process.argv[3]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' });
const proxy = createProxyServer({ xfwd: false, changeOrigin: false });

const server = http.createServer((req, res) => {
  proxy.web(req, res, { target, agent }, () => {
    if (res.headersSent) res.destroy();
    else {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    }
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
// Exit on SIGTERM so that --cpu-prof writes its profile.
process.on('SIGTERM', () => process.exit(0));
