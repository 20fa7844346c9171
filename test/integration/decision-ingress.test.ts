/**
 * The decision endpoint in Traefik (`forwardAuth`) and Envoy (`ext_authz` path_prefix) modes,
 * on raw HTTP: each mode reads only its own source of the original request, and the headers of
 * the other ingresses — which a client can send, and which Traefik copies to the decision
 * request — never decide anything (docs/routing.md "The decision endpoint").
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';

let upstream: Upstream;
let traefik: TestGateway;
let envoy: TestGateway;
/** Tokens of joe with scope read and admin, from each gateway's own memory store. */
let readToken: string;
let adminToken: string;
let envoyRead: string;
let envoyAdmin: string;

const ROUTES = [
  { path: '/public/**', auth: 'none' },
  { path: '/admin/**', methods: ['POST', 'DELETE'], scopes: ['admin'] },
];

beforeAll(async () => {
  upstream = await startEchoUpstream();
  const start = (ingress: string) =>
    startGateway({ upstream: upstream.url, config: { log: { level: 'warn' }, decision: { enabled: true, ingress }, routes: ROUTES } });
  [traefik, envoy] = await Promise.all([start('traefik'), start('envoy')]);
  const issue = async (gw: TestGateway, scope: string) =>
    (
      await postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}&scope=${scope}`, {
        authorization: basicAuth(),
      })
    ).json.access_token as string;
  [readToken, adminToken, envoyRead, envoyAdmin] = await Promise.all([
    issue(traefik, 'read'),
    issue(traefik, 'admin'),
    issue(envoy, 'read'),
    issue(envoy, 'admin'),
  ]);
});
afterAll(async () => {
  await traefik?.stop();
  await envoy?.stop();
  await upstream?.close();
});

/** One request written byte for byte (duplicate and underscore headers as sent); the status and headers of the answer. */
function raw(gw: TestGateway, head: string): Promise<{ status: number; headers: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1', () =>
      socket.write(`${head}Host: gw\r\nConnection: close\r\n\r\n`),
    );
    let text = '';
    const done = (): void => {
      socket.destroy();
      const end = text.indexOf('\r\n\r\n');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
        headers: (end === -1 ? text : text.slice(0, end)).toLowerCase(),
      });
    };
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text.includes('\r\n\r\n')) done();
    });
    socket.on('error', done);
    socket.on('close', done);
  });
}

const lines = (...l: string[]) => l.map((x) => `${x}\r\n`).join('');

describe('traefik mode (X-Forwarded-Method + X-Forwarded-Uri)', () => {
  const ask = (...headers: string[]) => raw(traefik, `GET /_ropc/auth HTTP/1.1\r\n${lines(...headers)}`);

  it('decides on the request Traefik names', async () => {
    expect((await ask('X-Forwarded-Method: GET', 'X-Forwarded-Uri: /admin/secret')).status).toBe(401);
    expect((await ask('X-Forwarded-Method: GET', 'X-Forwarded-Uri: /public/x')).status).toBe(200);
    expect((await ask('X-Forwarded-Method: DELETE', 'X-Forwarded-Uri: /admin/x', `Authorization: Bearer ${readToken}`)).status).toBe(403);
    const ok = await ask('X-Forwarded-Method: DELETE', 'X-Forwarded-Uri: /admin/x', `Authorization: Bearer ${adminToken}`);
    expect(ok.status).toBe(200);
    expect(ok.headers).toContain('x-auth-scope: admin');
  });

  it('an anonymous GET /admin/secret naming X-Original-URI: /public/x does not pass', async () => {
    const res = await ask('X-Forwarded-Method: GET', 'X-Forwarded-Uri: /admin/secret', 'X-Original-URI: /public/x');
    expect(res.status).toBe(400);
    expect(res.headers).toContain('error="invalid_request"');
    expect((await ask('X-Forwarded-Method: GET', 'X-Forwarded-Uri: /admin/secret', 'X_Original_URI: /public/x')).status).toBe(400);
  });

  it('X-Original-Method: GET over a DELETE does not pass', async () => {
    const res = await ask(
      'X-Forwarded-Method: DELETE',
      'X-Forwarded-Uri: /admin/x',
      'X-Original-Method: GET',
      `Authorization: Bearer ${readToken}`,
    );
    expect(res.status).toBe(400);
    for (const override of ['X-HTTP-Method-Override: GET', 'X-HTTP-Method: GET', 'X-Method-Override: GET', 'X_HTTP_Method_Override: GET']) {
      expect(
        (await ask('X-Forwarded-Method: DELETE', 'X-Forwarded-Uri: /admin/x', override, `Authorization: Bearer ${readToken}`)).status,
        override,
      ).toBe(400);
    }
  });

  it('URL-rewrite headers naming another path do not pass', async () => {
    for (const rewrite of ['X-Original-URL: /public/x', 'X-Rewrite-URL: /public/x']) {
      expect((await ask('X-Forwarded-Method: GET', 'X-Forwarded-Uri: /admin/secret', rewrite)).status, rewrite).toBe(400);
    }
  });

  it('copies that agree are harmless', async () => {
    const res = await ask(
      'X-Forwarded-Method: DELETE',
      'X-Forwarded-Uri: /admin/x',
      'X-Original-Method: delete',
      'X-Original-URI: /admin/x',
      `Authorization: Bearer ${adminToken}`,
    );
    expect(res.status).toBe(200);
  });

  it('refuses the nginx headers alone, missing or duplicated headers, and the prefix form', async () => {
    expect((await ask('X-Original-Method: GET', 'X-Original-URI: /public/x')).status).toBe(400);
    expect((await ask('X-Forwarded-Uri: /public/x')).status).toBe(400);
    expect((await ask('X-Forwarded-Method: GET')).status).toBe(400);
    expect((await ask('X-Forwarded-Method: GET', 'X-Forwarded-Uri: /public/x', 'X-Forwarded-Uri: /admin/secret')).status).toBe(400);
    expect((await ask('X-Forwarded-Method: GET', 'X-Forwarded-Method: DELETE', 'X-Forwarded-Uri: /public/x')).status).toBe(400);
    expect((await raw(traefik, 'GET /_ropc/auth/public/x HTTP/1.1\r\n')).status).toBe(400);
  });
});

describe('envoy mode (ext_authz path_prefix)', () => {
  const ask = (method: string, path: string, ...headers: string[]) =>
    raw(envoy, `${method} /_ropc/auth${path} HTTP/1.1\r\n${lines(...headers)}`);

  it('decides on the original method and path, and lists what Envoy must remove', async () => {
    expect((await ask('GET', '/admin/secret')).status).toBe(401);
    expect((await ask('DELETE', '/admin/x', `Authorization: Bearer ${envoyRead}`)).status).toBe(403);
    const ok = await ask('POST', '/admin/x?y=1', `Authorization: Bearer ${envoyAdmin}`, 'X-Auth-Forged: 1');
    expect(ok.status).toBe(200);
    expect(ok.headers).toContain('x-auth-subject: joe');
    expect(ok.headers).toContain('x-envoy-auth-headers-to-remove: authorization, x-auth-forged');
  });

  it('refuses the header form of nginx and Traefik, even naming a public path', async () => {
    expect((await raw(envoy, lines('GET /_ropc/auth HTTP/1.1', 'X-Original-Method: GET', 'X-Original-URI: /public/x'))).status).toBe(400);
    expect((await raw(envoy, lines('GET /_ropc/auth HTTP/1.1', 'X-Forwarded-Method: GET', 'X-Forwarded-Uri: /public/x'))).status).toBe(400);
  });

  it('headers that name another request than the path do not pass', async () => {
    expect((await ask('GET', '/admin/secret', 'X-Original-URI: /public/x')).status).toBe(400);
    expect((await ask('GET', '/admin/secret', 'X-Forwarded-Uri: /public/x')).status).toBe(400);
    expect((await ask('DELETE', '/admin/x', 'X-Original-Method: GET', `Authorization: Bearer ${envoyRead}`)).status).toBe(400);
    expect((await ask('DELETE', '/admin/x', 'X-Forwarded-Method: GET', `Authorization: Bearer ${envoyRead}`)).status).toBe(400);
    expect((await ask('GET', '/public/x', 'X-Original-URI: /public/x')).status).toBe(200);
  });
});
