/**
 * Identity spoofing (docs/security.md): the upstream trusts the identity headers only
 * the gateway can set, so no inbound request may smuggle one through — in any case, duplicated,
 * listed in `Connection:`, spelled with underscores (CGI/WSGI/PHP upstreams read `X_Auth_Subject`
 * and `X-Auth-Subject` as the same `HTTP_X_AUTH_SUBJECT`, CVE-2025-64484), in a chunked
 * trailer, on public routes, on Basic-bridge routes and on WebSocket upgrades.
 *
 * Requests are written byte for byte on a raw socket (fetch and http.request would normalise
 * them); the upstreams record every raw header line they receive, and a check looks at every
 * recorded line whose name, lower-cased with `_` read as `-`, is one the gateway owns.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';

/** What the upstream received: raw header lines (name as sent) and trailers. */
interface Seen {
  readonly url: string;
  readonly raw: [name: string, value: string][];
  readonly trailers: Record<string, string | undefined>;
}

let gw: TestGateway;
let upstream: Upstream;
let wsUpstream: http.Server;
let wss: WebSocketServer;
let port: number;
let token: string;
const seen: Seen[] = [];

/** Header names the gateway owns with this configuration (compared lower-case, `_` as `-`). */
const OWNED = ['x-auth-subject', 'x-auth-client-id', 'x-auth-scope', 'x-auth-groups', 'remote-user'];
const owned = (name: string): boolean => {
  const n = name.toLowerCase().replace(/_/g, '-');
  return OWNED.includes(n) || n.startsWith('x-auth-');
};
/** What the gateway injects for joe's token (scope read edit, client app). */
const JOE: Record<string, string> = {
  'x-auth-subject': 'joe',
  'x-auth-client-id': 'app',
  'x-auth-scope': 'read edit',
  'x-auth-groups': 'editors',
  'remote-user': 'joe',
};

const pairs = (raw: string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
};

beforeAll(async () => {
  upstream = await startEchoUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '', raw: pairs(req.rawHeaders), trailers: { ...req.trailers } });
      res.end('ok');
    });
  });
  wsUpstream = http.createServer((_req, res) => res.end());
  wss = new WebSocketServer({ noServer: true });
  wsUpstream.on('upgrade', (req, socket, head) => {
    seen.push({ url: req.url ?? '', raw: pairs(req.rawHeaders), trailers: {} });
    wss.handleUpgrade(req, socket, head, (ws) => ws.close());
  });
  await new Promise<void>((resolve) => wsUpstream.listen(0, '127.0.0.1', resolve));
  const wsUrl = `http://127.0.0.1:${(wsUpstream.address() as AddressInfo).port}`;
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      log: { level: 'warn' },
      decision: { enabled: true, ingress: 'envoy' },
      headers: {
        identity: {
          'X-Auth-Subject': 'sub',
          'X-Auth-Client-Id': 'client_id',
          'X-Auth-Scope': 'scope',
          'X-Auth-Groups': 'groups',
          'Remote-User': 'sub',
        },
      },
      routes: [
        { path: '/public/**', auth: 'none' },
        { path: '/legacy/**', auth: 'bearer-or-basic', basicClient: 'app' },
        { path: '/ws/public', auth: 'none', upstream: wsUrl },
        { path: '/ws/**', upstream: wsUrl },
      ],
    },
  });
  port = Number(new URL(gw.url).port);
  const res = await postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}&scope=read%20edit`, {
    authorization: basicAuth(),
  });
  token = res.json.access_token as string;
  expect(token).toBeTruthy();
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  wss?.close();
  wsUpstream?.closeAllConnections();
  await new Promise<void>((resolve) => (wsUpstream ? wsUpstream.close(() => resolve()) : resolve()));
});

/** Writes `request` on a fresh connection; resolves with the status line's code once an answer arrives or the socket closes. */
function send(request: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    const done = (): void => {
      socket.destroy();
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
    };
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text.includes('\r\n\r\n')) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    setTimeout(done, 5000).unref();
  });
}

/**
 * Headers upstreams take as the user, the client address or an override of the method or URL
 * (oauth2-proxy, Pomerium, Authelia, Kong, Apache/nginx setups, Tomcat valves, Rails/Laravel/
 * Symfony/ASP.NET overrides, IIS URL Rewrite), in several spellings. None may reach the upstream.
 */
const SPOOFS = [
  'X-Forwarded-User: admin',
  'X-Forwarded-Email: admin@example.org',
  'X-Forwarded-Preferred-Username: admin',
  'X-Forwarded-Groups: admins',
  'X-Forwarded-Access-Token: forged',
  'X-Forwarded-Prefix: /admin',
  'X-Forwarded-Ssl: on',
  'x_forwarded_user: admin',
  'Forwarded: for=10.6.6.6;proto=https',
  'X-Remote-User: admin',
  'x_remote_user: admin',
  'X-Remote-Group: admins',
  'Remote-Groups: admins',
  'X-User: admin',
  'X-Email: admin@example.org',
  'X-Auth-Request-User: admin',
  'X-Auth-Request-Email: admin@example.org',
  'X-HTTP-Method-Override: DELETE',
  'x-http-method: DELETE',
  'X-Method-Override: DELETE',
  'X_HTTP_Method_Override: DELETE',
  'X-Original-URL: /admin/x',
  'X-Rewrite-URL: /admin/x',
  'X-Original-URI: /admin/x',
  'X-Original-Method: DELETE',
  'X-Real-IP: 10.6.6.6',
  'True-Client-IP: 10.6.6.6',
  'X-Pomerium-Jwt-Assertion: forged',
  'Cf-Access-Authenticated-User-Email: admin@example.org',
  'X-Webauth-User: admin',
  'ssl_client_cert: forged',
  'X-Ms-Client-Principal-Name: admin',
  'OIDC_CLAIM_sub: admin',
  'X-Consumer-Username: admin',
  'X-Goog-Authenticated-User-Email: admin@example.org',
  'X-Amzn-Oidc-Identity: admin',
  'X-Envoy-Original-Path: /admin/x',
];
const SPOOFED = new Set(SPOOFS.map((l) => (l.split(':')[0] as string).toLowerCase().replace(/_/g, '-')));
/** The X-Forwarded-* the gateway itself sets (checked by expectGatewayForwarding). */
const GATEWAY_SET = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'];

/** The forgeries every test sends: each spelling a gateway-owned header can take. */
const FORGED = [
  'X-Auth-Subject: admin',
  'x-auth-subject: root',
  'X-AUTH-SUBJECT: root2',
  'x-AuTh-GrOuPs: admins',
  'X-Auth-Groups: admins',
  'X-Auth-Scope: admin',
  'X-Auth-Client-Id: trusted',
  'X-Auth-Anything: forged',
  'X_Auth_Subject: underscore',
  'x_auth_groups: admins',
  'X-Auth_Scope: admin',
  'Remote-User: admin',
  'REMOTE-USER: admin',
  'Remote_User: admin',
  // Not identity, but the upstream trusts these too: their underscore spellings must go as well.
  'X_Forwarded_For: 10.6.6.6',
  'X_Forwarded_Proto: https',
  'X_Request_Id: forged-id',
  ...SPOOFS,
];

/** Every owned header line the upstream saw for `url`, as [lower-case name, value]; and no spoofed one at all. */
function ownedLines(url: string): [string, string][] {
  const hit = seen.filter((s) => s.url === url);
  expect(hit, `the upstream received ${url} exactly once`).toHaveLength(1);
  const raw = (hit[0] as Seen).raw;
  const spoofed = raw.filter(([name]) => {
    const n = name.toLowerCase().replace(/_/g, '-');
    return SPOOFED.has(n) || (n.startsWith('x-forwarded-') && !(GATEWAY_SET.includes(n) && !name.includes('_')));
  });
  expect(spoofed, 'identity, address or override headers reached the upstream').toEqual([]);
  return raw.filter(([name]) => owned(name)).map(([name, value]) => [name.toLowerCase(), value]);
}

/** The upstream saw exactly the gateway's identity for joe: one line per header, the right values, nothing else owned. */
function expectJoe(url: string): void {
  const lines = ownedLines(url);
  expect(Object.fromEntries(lines)).toEqual(JOE);
  expect(lines).toHaveLength(Object.keys(JOE).length);
  expectGatewayForwarding(url);
}

/** X-Forwarded-* and X-Request-Id as the gateway set them, with no underscore spelling beside them. */
function expectGatewayForwarding(url: string): void {
  const raw = (seen.find((s) => s.url === url) as Seen).raw.map(([name, value]) => [name.toLowerCase().replace(/_/g, '-'), value] as const);
  const forwarding = raw.filter(([name]) => name.startsWith('x-forwarded-') || name === 'x-request-id');
  expect(forwarding.filter(([name]) => name === 'x-forwarded-for')).toEqual([['x-forwarded-for', '127.0.0.1']]);
  expect(forwarding.filter(([name]) => name === 'x-forwarded-proto')).toEqual([['x-forwarded-proto', 'http']]);
  expect(forwarding.filter(([name]) => name === 'x-request-id')).toEqual([['x-request-id', expect.stringMatching(/^[0-9a-f-]{36}$/)]]);
}

let n = 0;
const unique = (path: string) => `${path}${path.includes('?') ? '&' : '?'}n=${++n}`;

describe('HTTP requests', () => {
  it('on a protected route: only the identity of the token, whatever was forged', async () => {
    const url = unique('/api/items');
    const status = await send(
      `GET ${url} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\n${FORGED.join('\r\n')}\r\nConnection: close\r\n\r\n`,
    );
    expect(status).toBe(200);
    expectJoe(url);
  });

  it('on a public route: no identity header at all', async () => {
    const url = unique('/public/page');
    const status = await send(`GET ${url} HTTP/1.1\r\nHost: gw\r\n${FORGED.join('\r\n')}\r\nConnection: close\r\n\r\n`);
    expect(status).toBe(200);
    expect(ownedLines(url)).toEqual([]);
    expectGatewayForwarding(url);
  });

  it('with the owned headers named in Connection (hop-by-hop) on both kinds of route', async () => {
    const protectedUrl = unique('/api/conn');
    const publicUrl = unique('/public/conn');
    const connection = 'Connection: keep-alive, X-Auth-Subject, x_auth_groups, Remote-User\r\nConnection: X-Auth-Scope\r\n';
    expect(
      await send(
        `GET ${protectedUrl} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\n${connection}${FORGED.join('\r\n')}\r\n\r\n`,
      ),
    ).toBe(200);
    expect(await send(`GET ${publicUrl} HTTP/1.1\r\nHost: gw\r\n${connection}${FORGED.join('\r\n')}\r\n\r\n`)).toBe(200);
    expectJoe(protectedUrl);
    expect(ownedLines(publicUrl)).toEqual([]);
  });

  it('with Basic user credentials on a bearer-or-basic route', async () => {
    const url = unique('/legacy/report');
    const basic = `Basic ${Buffer.from(`joe:${USERS.joe.password}`).toString('base64')}`;
    expect(
      await send(`GET ${url} HTTP/1.1\r\nHost: gw\r\nAuthorization: ${basic}\r\n${FORGED.join('\r\n')}\r\nConnection: close\r\n\r\n`),
    ).toBe(200);
    const lines = Object.fromEntries(ownedLines(url));
    // The Basic bridge's identity: the client's default scopes, not the forged ones.
    expect(lines).toEqual({
      'x-auth-subject': 'joe',
      'x-auth-client-id': 'app',
      'x-auth-scope': 'read',
      'x-auth-groups': 'editors',
      'remote-user': 'joe',
    });
  });

  it('in the trailer of a chunked body', async () => {
    const url = unique('/public/trailer');
    const body = '5\r\nhello\r\n0\r\nX-Auth-Subject: admin\r\nX_Auth_Groups: admins\r\n\r\n';
    expect(
      await send(
        `POST ${url} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTrailer: X-Auth-Subject\r\nConnection: close\r\n\r\n${body}`,
      ),
    ).toBe(200);
    expect(ownedLines(url)).toEqual([]);
    const got = seen.find((s) => s.url === url) as Seen;
    expect(Object.keys(got.trailers).filter(owned)).toEqual([]);
  });

  it('never forwards a request whose forged header is folded (obs-fold) or smuggled with both framings', async () => {
    const before = seen.length;
    const folded = await send(
      `GET ${unique('/public/fold')} HTTP/1.1\r\nHost: gw\r\nX-Note: a\r\n X-Auth-Subject: admin\r\nConnection: close\r\n\r\n`,
    );
    const smuggled = await send(
      `POST ${unique('/public/smuggle')} HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /public/inner HTTP/1.1\r\nHost: gw\r\nX-Auth-Subject: admin\r\n\r\n`,
    );
    expect(folded).toBe(400);
    expect(smuggled).toBe(400);
    expect(seen.length).toBe(before);
  });
});

describe('the decision endpoint (Envoy ext_authz)', () => {
  it('names every forged spelling in x-envoy-auth-headers-to-remove, so the ingress drops them', async () => {
    const res = await fetch(`${gw.url}/_ropc/auth/api/items`, {
      headers: { authorization: `Bearer ${token}`, x_auth_subject: 'admin', 'x-auth-anything': 'x', remote_user: 'admin' },
    });
    expect(res.status).toBe(200);
    const remove = (res.headers.get('x-envoy-auth-headers-to-remove') ?? '').split(', ');
    expect(remove).toEqual(expect.arrayContaining(['authorization', 'x_auth_subject', 'x-auth-anything', 'remote_user']));
    expect(remove).not.toContain('x-forwarded-for');
    // The identity itself is in the answer, for the ingress to pass on.
    expect(res.headers.get('x-auth-subject')).toBe('joe');
    expect(res.headers.get('remote-user')).toBe('joe');
  });
});

describe('the decision endpoint (Envoy ext_authz): identity, address and override headers', () => {
  it('names each one the check request carried, and the fixed names always, for Envoy to remove', async () => {
    const res = await fetch(`${gw.url}/_ropc/auth/api/items`, {
      headers: {
        authorization: `Bearer ${token}`,
        'x-forwarded-user': 'admin',
        x_forwarded_email: 'a@x',
        'x-remote-user': 'admin',
        'x-pomerium-claim-email': 'a@x',
        forwarded: 'for=1.2.3.4',
      },
    });
    expect(res.status).toBe(200);
    const remove = (res.headers.get('x-envoy-auth-headers-to-remove') ?? '').split(', ');
    expect(remove).toEqual(
      expect.arrayContaining(['x-forwarded-user', 'x_forwarded_email', 'x-remote-user', 'x-pomerium-claim-email', 'forwarded']),
    );
    // Not sent, but Envoy only removes what is listed, and its allowed_headers may not pass them to the check.
    expect(remove).toEqual(expect.arrayContaining(['x-http-method-override', 'x-rewrite-url', 'x-real-ip', 'x-user']));
  });
});

describe('headers.passThrough and server.trustProxy', () => {
  let trusting: TestGateway;
  beforeAll(async () => {
    trusting = await startGateway({
      upstream: upstream.url,
      config: {
        log: { level: 'warn' },
        server: { trustProxy: true },
        headers: { passThrough: ['X-Real-IP'] },
        routes: [{ path: '/**', auth: 'none' }],
      },
    });
  });
  afterAll(async () => trusting?.stop());

  it('lets through the named header in its exact spelling and the trusted forwarding headers; strips the rest', async () => {
    const url = unique('/trusted/x');
    const request = `GET ${url} HTTP/1.1\r\nHost: gw\r\nX-Real-IP: 203.0.113.7\r\nx_real_ip: 10.6.6.6\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-User: admin\r\nX-Forwarded-Prefix: /admin\r\nX-HTTP-Method-Override: DELETE\r\nConnection: close\r\n\r\n`;
    const status = await new Promise<number>((resolve) => {
      const socket = net.connect(Number(new URL(trusting.url).port), '127.0.0.1', () => socket.write(request));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
      socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    });
    expect(status).toBe(200);
    const got = (seen.find((x) => x.url === url) as Seen).raw.map(([n, v]) => [n.toLowerCase(), v]);
    expect(got.filter(([n]) => n === 'x-real-ip' || n === 'x_real_ip')).toEqual([['x-real-ip', '203.0.113.7']]);
    expect(got.filter(([n]) => (n as string).startsWith('x-forwarded-'))).toEqual([
      ['x-forwarded-for', '203.0.113.7, 127.0.0.1'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'gw'],
    ]);
    expect(got.filter(([n]) => n === 'x-http-method-override')).toEqual([]);
  });
});

describe('WebSocket upgrades', () => {
  const handshake = (url: string, extra: string) =>
    `GET ${url} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Auth-Groups, x_auth_scope\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}${FORGED.join('\r\n')}\r\n\r\n`;

  it('on a protected route: only the identity of the token', async () => {
    const url = unique('/ws/chat');
    expect(await send(handshake(url, `Authorization: Bearer ${token}\r\n`))).toBe(101);
    expectJoe(url);
  });

  it('on a public route: no identity header at all', async () => {
    const url = unique('/ws/public');
    expect(await send(handshake(url, ''))).toBe(101);
    expect(ownedLines(url)).toEqual([]);
  });

  it('refused without a token: nothing reaches the upstream', async () => {
    const before = seen.length;
    expect(await send(handshake(unique('/ws/chat'), ''))).toBe(401);
    expect(await send(handshake(unique('/ws/chat'), 'Authorization: Bearer forged-token-value\r\n'))).toBe(401);
    expect(seen.length).toBe(before);
  });
});
