/**
 * A DELETE or OPTIONS with a chunked body and no Content-Length, on a route anyone may use: the
 * body must reach the upstream as that request's body, framed, never as a second request on the
 * upstream's keep-alive connection (request smuggling, RFC 9112 §11.2; http-proxy-3, no longer
 * used for plain HTTP, forwarded such a request with `content-length: 0` and then wrote the
 * body anyway); and a client naming the framing headers in `Connection` must not get them
 * removed (src/resource/identity-headers.ts, src/http/hop-by-hop.ts). Raw sockets.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/start-gateway.js';
import { waitFor } from '../support/wait-for.js';

const SMUGGLED =
  'DELETE /admin/delete-all-users HTTP/1.1\r\nHost: upstream\r\nX-Auth-Subject: boss\r\nX-Auth-Scope: admin\r\nContent-Length: 0\r\n\r\n';

/** Sends `raw` and resolves with what the gateway answered until it went quiet or closed. */
function exchange(url: string, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let got = '';
    socket.on('data', (chunk) => {
      got += chunk.toString('latin1');
      if (/\r\n\r\n/.test(got)) socket.end();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    socket.write(raw);
  });
}

describe('a chunked body on DELETE and OPTIONS', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  const seen: { method: string; url: string; body: string }[] = [];

  beforeAll(async () => {
    upstream = await startEchoUpstream((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('latin1')));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body });
        res.end('ok');
      });
    });
    gw = await startGateway({ upstream: upstream.url, config: { routes: [{ path: '/public/**', auth: 'none' }] } });
  });
  afterAll(async () => {
    await gw?.stop();
    upstream?.server.close();
  });

  // A client naming the framing headers in Connection (hop-by-hop removal would drop them,
  // and Node's client sends a GET body unframed).
  for (const [framing, nominated] of [
    [`Content-Length: ${SMUGGLED.length}`, 'content-length'],
    ['Transfer-Encoding: chunked', 'transfer-encoding'],
  ] as const) {
    it(`GET with ${framing} named in Connection: one request upstream, the body as its body`, async () => {
      seen.length = 0;
      const body = nominated === 'content-length' ? SMUGGLED : `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`;
      const raw = `GET /public/y HTTP/1.1\r\nHost: 127.0.0.1\r\n${framing}\r\nConnection: keep-alive, ${nominated}\r\n\r\n${body}`;
      expect(await exchange(gw.url, raw)).toMatch(/^HTTP\/1\.1 200 /);
      await waitFor(() => seen.length >= 1);
      expect(await exchange(gw.url, 'GET /public/after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 /);
      await waitFor(() => seen.length >= 2);
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /public/y', 'GET /public/after']);
      expect(seen[0]!.body).toBe(SMUGGLED);
    });
  }

  for (const method of ['DELETE', 'OPTIONS']) {
    it(`${method}: the upstream gets one request, with the body as its body`, async () => {
      seen.length = 0;
      const chunk = `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`;
      const raw = `${method} /public/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`;
      const answer = await exchange(gw.url, raw);
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      await waitFor(() => seen.length >= 1);
      // A follow-up on a fresh connection reuses the upstream connection: were the body left
      // on it unframed, the upstream would read it as a request now.
      expect(await exchange(gw.url, 'GET /public/after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 /);
      await waitFor(() => seen.length >= 2);
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([`${method} /public/x`, 'GET /public/after']);
      expect(seen[0]!.body).toBe(SMUGGLED);
    });
  }

  // RFC 9112 §6.1: chunked is the only transfer coding the gateway decodes; a body in another
  // would reach the upstream still encoded, re-framed as if it were plain.
  for (const coding of ['gzip, chunked', 'deflate,chunked', 'x-custom, chunked']) {
    for (const path of ['/public/te', '/as/token.oauth2']) {
      it(`Transfer-Encoding: ${coding} on ${path}: 501, the connection closes, nothing reaches the upstream`, async () => {
        seen.length = 0;
        const body = 'grant_type=password';
        const raw = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: ${coding}\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
        const answer = await exchange(gw.url, raw);
        expect(answer).toMatch(/^HTTP\/1\.1 501 /);
        expect(answer.toLowerCase()).toContain('connection: close');
        expect(await exchange(gw.url, 'GET /public/after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 /);
        await waitFor(() => seen.length >= 1);
        expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /public/after']);
      });
    }
  }
});
