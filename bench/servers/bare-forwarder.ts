/**
 * The gateway's undici forwarder alone (dist/resource/undici-forwarder.js, websocket-proxy.js
 * for upgrades) behind a node:http server: no auth, no logging, no metrics. Separates what the
 * forwarding module costs from what the rest of the resource path costs.
 * Usage: node bare-forwarder.js PORT UPSTREAM_URL DIST_DIR
 */
import http from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Forwarder {
  web(req: http.IncomingMessage, res: http.ServerResponse, upstream: { url: string; timeoutMs: number; caFile: string }): void;
}
type Make = (options: object, upgrades?: Forwarder) => Forwarder;

const [, , portArg, url = '', dist = ''] = process.argv;
const load = async (file: string): Promise<Record<string, unknown>> =>
  (await import(pathToFileURL(join(dist, file)).href)) as Record<string, unknown>;
const createWebSocketProxy = (await load('resource/websocket-proxy.js'))['createWebSocketProxy'] as Make;
const createUndiciForwarder = (await load('resource/undici-forwarder.js'))['createUndiciForwarder'] as Make;
const silent = { warn: () => undefined, info: () => undefined, debug: () => undefined, error: () => undefined };
const target = { url, timeoutMs: 30_000, caFile: '' };
const options = { maxSockets: 256, logger: silent, targets: [target] };
const forwarder = createUndiciForwarder(options, createWebSocketProxy(options));

const server = http.createServer((req, res) => forwarder.web(req, res, target));
server.keepAliveTimeout = 65_000;
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
