/**
 * Path bypasses against real upstreams (docs/security.md "One canonical path"): with
 * `/public/** auth: none`, `/admin/** scopes: [admin]` and `/api/** scopes: [read]`, a
 * token with only `read` (or none) sends every spelling an attacker would try, on a raw
 * socket so nothing normalises the path on the way. Each one must either be refused by the
 * gateway (4xx, the upstream never hit) or arrive at the upstream at exactly the canonical
 * path the gateway judged, and the upstream's own reading of it (Node's raw path, WSGI
 * PATH_INFO behind nginx, Tomcat's servlet path) must not be the admin page.
 *
 * Upstreams: (a) a Node http server; (b) nginx in front of a
 * Python stdlib WSGI app; (c) an embedded Tomcat 10. Also WebSocket upgrades and the decision
 * endpoint for some spellings.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { canonicalTarget } from '../../src/resource/canonical-path.js';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { nginxAvailable, startNginx, type NginxProcess } from '../support/start-nginx.js';
import { startNodePathUpstream, startTomcat, startWsgiApp, type PathUpstream, type UpstreamView } from '../support/path-upstreams.js';
import { waitFor } from '../support/wait-for.js';

type Who = 'anonymous' | 'read' | 'admin';

/** [request target as sent (latin1, byte for byte), who sends it] */
const SPELLINGS: [string, Who][] = [
  // the issue's examples
  ['/%61dmin/panel', 'read'],
  ['//admin/panel', 'read'],
  ['/admin;x=1/panel', 'read'],
  ['/api/..;/admin/y', 'read'],
  ['/public/..;/admin/x', 'anonymous'],
  ['/ADMIN/panel', 'read'],
  ['/Admin/panel', 'read'],
  // encodings
  ['/%2561dmin/panel', 'read'],
  ['/%41DMIN/panel', 'read'],
  ['/adm%69n/panel', 'read'],
  ['/admin%2fpanel', 'read'],
  ['/admin%2Fpanel', 'read'],
  ['/%2Fadmin/panel', 'read'],
  ['/%u0061dmin/panel', 'read'],
  ['/%zzadmin', 'read'],
  ['/admin%', 'read'],
  ['/%EF%BC%A1dmin/panel', 'read'],
  ['/adm%C4%B1n/panel', 'read'],
  ['/%61dmin%3bx/panel', 'read'],
  // dot-segments
  ['/public/%2e%2e/admin', 'anonymous'],
  ['/public/%2E%2E/admin/x', 'anonymous'],
  ['/public/%2e%2e%2fadmin', 'anonymous'],
  ['/public/.%2e/admin', 'anonymous'],
  ['/public/%2e./admin', 'anonymous'],
  ['/public/../admin', 'anonymous'],
  ['/public//..//admin', 'anonymous'],
  ['/public/%252e%252e/admin', 'anonymous'],
  ['/public/%c0%ae%c0%ae/admin', 'anonymous'],
  ['/public/%EF%BC%8E%EF%BC%8E/admin', 'anonymous'],
  ['/public/%2e%2e;/admin', 'anonymous'],
  ['/public;x/../admin', 'anonymous'],
  ['/public/.;/../admin', 'anonymous'],
  ['/./admin/panel', 'read'],
  ['/admin/./panel', 'read'],
  ['/api/../admin/panel', 'read'],
  ['/api/%2e%2e/admin/panel', 'read'],
  ['/api/x/..%2f..%2fadmin', 'read'],
  ['/%c0%ae%c0%ae/admin/panel', 'read'],
  ['/api/%c0%ae%c0%ae/admin/panel', 'read'],
  ['/api/.', 'read'],
  // NUL and controls
  ['/admin%00/panel', 'read'],
  ['/api/x%00/../../admin', 'read'],
  ['/api/%0d%0aX-Injected:%201', 'read'],
  ['/adm\tin/panel', 'read'],
  ['/api/\x7f', 'read'],
  // backslashes
  ['/admin\\panel', 'read'],
  ['/api\\..\\admin\\panel', 'read'],
  ['/public\\..\\admin', 'anonymous'],
  ['/api/%5c..%5cadmin', 'read'],
  // path parameters
  ['/ADMIN;x/panel', 'read'],
  ['/admin/;x/panel', 'read'],
  ['/api;/../admin', 'read'],
  ['/public/x;jsessionid=1', 'anonymous'],
  // case and slashes combined with the rest
  ['//%41DMIN//panel', 'read'],
  ['/PUBLIC/x', 'anonymous'],
  ['/PUBLIC/../ADMIN', 'anonymous'],
  ['/Public/%2e%2e/Admin', 'anonymous'],
  // not origin-form, fragments, queries
  ['http://upstream.invalid/admin/panel', 'read'],
  ['*', 'read'],
  ['admin/panel', 'read'],
  ['/api/x#/../../admin', 'read'],
  ['/api/x?/../../admin', 'read'],
  ['/api/x?a=%2e%2e%2f&b=//', 'read'],
  // what must still work: forwarded in canonical form
  ['/api/x', 'read'],
  ['//api//x', 'read'],
  ['/%61pi/%78', 'read'],
  ['/API/X', 'read'],
  ['/public/x', 'anonymous'],
  ['/public//%78', 'anonymous'],
  ['/api/caf%c3%a9', 'read'],
  ['/api/%7euser/a.b', 'read'],
  // the admin token's control cases: the admin page is reachable when authorized
  ['/admin/panel', 'admin'],
  ['/%61dmin/panel', 'admin'],
  ['//ADMIN/panel', 'admin'],
];

/** The canonical target the gateway may forward for `target`, or null when it has none. */
function expectedForward(target: string): string | null {
  try {
    return canonicalTarget(target).url;
  } catch {
    return null;
  }
}

interface Answer {
  readonly status: number;
  readonly headers: string;
  readonly body: string;
}

/**
 * One request on a fresh socket, the target written byte for byte. Resolves when the answer
 * is complete (by Content-Length, chunked end or close), not when the connection closes.
 */
function rawRequest(base: string, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = Buffer.alloc(0);
    const lines = Object.entries({ host: 'gateway.test', connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
    const parse = (): Answer | null => {
      const text = data.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) return null;
      const head = text.slice(0, split);
      const body = text.slice(split + 4);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (status === 101) return { status, headers: head, body: '' };
      if (length) return body.length >= Number(length[1]) ? { status, headers: head, body: body.slice(0, Number(length[1])) } : null;
      if (/\r\ntransfer-encoding: *chunked/i.test(head)) return body.endsWith('0\r\n\r\n') ? { status, headers: head, body } : null;
      return null;
    };
    const finish = (answer: Answer): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('connect', () => socket.write(Buffer.from(`${method} ${target} HTTP/1.1\r\n${lines.join('')}\r\n`, 'latin1')));
    socket.on('data', (c: Buffer) => {
      data = Buffer.concat([data, c]);
      const answer = parse();
      if (answer) finish(answer);
    });
    socket.once('error', reject);
    // An answer that never ends is a failure to report, not a hung suite.
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no complete answer to ${JSON.stringify(target)}`)));
    socket.once('close', () => {
      const text = data.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        headers: head,
        body: split === -1 ? '' : text.slice(split + 4),
      });
    });
  });
}

/** The upstream's JSON view in a forwarded answer, or null when the gateway answered itself. */
function viewOf(answer: Answer): UpstreamView | null {
  const at = answer.body.indexOf('{"kind"');
  if (at === -1) return null;
  const end = answer.body.indexOf('}', at);
  // Chunked bodies: the JSON object is on one line and holds no "}" before its end.
  return JSON.parse(answer.body.slice(at, end + 1)) as UpstreamView;
}

interface Setup {
  readonly name: string;
  readonly upstream: PathUpstream;
  readonly gateway: TestGateway;
  readonly tokens: Record<Who, string | undefined>;
}

const ROUTES = [
  { path: '/public/**', auth: 'none' },
  { path: '/admin/**', scopes: ['admin'] },
  { path: '/api/**', scopes: ['read'] },
];

async function gatewayFor(
  upstreamUrl: string,
  extra: Record<string, unknown> = {},
): Promise<{ gateway: TestGateway; tokens: Record<Who, string | undefined> }> {
  const gateway = await startGateway({
    upstream: upstreamUrl,
    config: { routes: ROUTES, decision: { enabled: true, ingress: 'nginx' }, ...extra },
  });
  const issue = async (scope: string) =>
    (
      await postForm(gateway.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}&scope=${scope}`, {
        authorization: basicAuth(),
      })
    ).json.access_token as string;
  return { gateway, tokens: { anonymous: undefined, read: await issue('read'), admin: await issue('admin') } };
}

/** Runs the table against one setup and returns the targets that were forwarded, in order. */
async function runTable(setup: Setup): Promise<string[]> {
  const forwarded: string[] = [];
  const problems: string[] = [];
  for (const [target, who] of SPELLINGS) {
    const token = setup.tokens[who];
    const answer = await rawRequest(setup.gateway.url, target, token ? { authorization: `Bearer ${token}` } : {});
    const view = viewOf(answer);
    const label = `${setup.name}: ${JSON.stringify(target)} as ${who} → ${answer.status}`;
    if (view === null) {
      // Refused by the gateway: a 4xx that is its own (JSON error, or the HTTP parser's empty 400).
      if (answer.status < 400 || answer.status >= 500)
        problems.push(`${label}: neither refused nor forwarded: ${answer.body.slice(0, 200)}`);
      if (/<html/i.test(answer.body)) problems.push(`${label}: an upstream error page, not the gateway's refusal`);
      continue;
    }
    forwarded.push(view.raw);
    const expected = expectedForward(target);
    if (view.raw !== expected) problems.push(`${label}: upstream received ${JSON.stringify(view.raw)}, judged ${JSON.stringify(expected)}`);
    if (view.admin && who !== 'admin') problems.push(`${label}: reached the ADMIN PAGE (upstream view ${JSON.stringify(view.view)})`);
  }
  expect(problems).toEqual([]);
  return forwarded;
}

/** Waits until `upstream` has recorded `count` hits (its log lines are asynchronous). */
async function hitsSettled(upstream: PathUpstream, sentinel: string, gateway: TestGateway): Promise<void> {
  const answer = await rawRequest(gateway.url, sentinel);
  expect(answer.status).toBe(200);
  await waitFor(() => upstream.hits.includes(sentinel), 5000, `the upstream to record ${sentinel}`);
}

describe('path bypass spellings against real upstreams', () => {
  const setups: Setup[] = [];
  let nginx: NginxProcess | undefined;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    if (!nginxAvailable()) throw new Error('nginx is not installed: apt-get install -y nginx-light (bash .ci/run does it)');
    const node = await startNodePathUpstream();
    stops.push(() => node.stop());
    {
      const { gateway, tokens } = await gatewayFor(node.url, { upstream: { url: node.url, timeoutMs: 5000 } });
      stops.push(() => gateway.stop());
      setups.push({ name: 'node', upstream: node, gateway, tokens });
    }

    const wsgi = await startWsgiApp();
    stops.push(() => wsgi.stop());
    nginx = await startNginx(`
  server {
    listen 127.0.0.1:{{PORT}};
    location / {
      proxy_pass http://127.0.0.1:${new URL(wsgi.url).port};
      proxy_http_version 1.1;
    }
  }`);
    const nginxProcess = nginx;
    stops.push(() => nginxProcess.stop());
    const viaNginx = await gatewayFor(nginx.url);
    stops.push(() => viaNginx.gateway.stop());
    setups.push({ name: 'nginx → wsgi', upstream: wsgi, ...viaNginx });

    const tomcat = await startTomcat();
    stops.push(() => tomcat.stop());
    const viaTomcat = await gatewayFor(tomcat.url);
    stops.push(() => viaTomcat.gateway.stop());
    setups.push({ name: 'tomcat', upstream: tomcat, ...viaTomcat });
    const lenient = await gatewayFor(tomcat.url, {
      routes: [
        { path: '/public/**', auth: 'none', pathParameters: 'allow' },
        { path: '/admin/**', scopes: ['admin'] },
        { path: '/api/**', scopes: ['read'], pathParameters: 'allow' },
      ],
    });
    stops.push(() => lenient.gateway.stop());
    setups.push({ name: 'tomcat, pathParameters: allow', upstream: tomcat, ...lenient });
  }, 120_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });

  for (const name of ['node', 'nginx → wsgi', 'tomcat', 'tomcat, pathParameters: allow']) {
    it(`${name}: every spelling is refused or forwarded exactly as judged, never to the admin page`, async () => {
      const setup = setups.find((s) => s.name === name);
      if (!setup) throw new Error(`${name} did not start`);
      const before = setup.upstream.hits.length;
      const forwarded = await runTable(setup);
      const sentinel = `/public/sentinel-${name.replace(/\W+/g, '-')}`;
      await hitsSettled(setup.upstream, sentinel, setup.gateway);
      // Nothing else reached the upstream: the refused spellings never did.
      expect(setup.upstream.hits.slice(before)).toEqual([...forwarded, sentinel]);
    }, 60_000);
  }

  it('600 generated spellings from the dangerous pieces: refused, or forwarded exactly as judged', async () => {
    const pieces = [
      '/',
      '//',
      '.',
      '..',
      '%2e',
      '%2E',
      '%2f',
      '%5c',
      '\\',
      ';',
      ';x=1',
      '%3b',
      '%25',
      '%00',
      '%c0%ae',
      '%C4%B1',
      '%61',
      '%41',
      'a',
      'A',
      'admin',
      'ADMIN',
      'api',
      'public',
      '%u0061',
      '%',
      '~',
      '%7e',
      '?',
      '#',
    ];
    let seed = 11;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (const setup of setups.filter((s) => s.name === 'node')) {
      const problems: string[] = [];
      for (let n = 0; n < 600; n++) {
        let target = '/';
        for (let k = next() % 7; k >= 0; k--) target += pieces[next() % pieces.length];
        const who: Who = n % 2 ? 'read' : 'anonymous';
        const token = setup.tokens[who];
        const answer = await rawRequest(setup.gateway.url, target, token ? { authorization: `Bearer ${token}` } : {});
        const view = viewOf(answer);
        if (view === null) {
          if (answer.status < 400 || answer.status >= 500) problems.push(`${JSON.stringify(target)}: ${answer.status}`);
          continue;
        }
        // The path exactly (the query is not judged by the rules).
        const judged = expectedForward(target)?.split('?')[0];
        if (view.raw.split('?')[0] !== judged)
          problems.push(`${JSON.stringify(target)}: upstream received ${JSON.stringify(view.raw)}, judged ${JSON.stringify(judged)}`);
        if (view.admin) problems.push(`${JSON.stringify(target)} as ${who}: ADMIN PAGE`);
      }
      expect(problems, setup.name).toEqual([]);
    }
  }, 60_000);

  it('pathParameters: allow forwards ";" parameters as sent, only where every reading of the path allows them', async () => {
    const setup = setups.find((s) => s.name === 'tomcat, pathParameters: allow') as Setup;
    const read = { authorization: `Bearer ${setup.tokens.read}` };
    const cases: [string, Record<string, string>, number, string | null][] = [
      ['/public/x;jsessionid=AB12', {}, 200, '/public'],
      ['/api/x;v=1/y', read, 200, '/api'],
      ['/api/;x/admin', read, 200, '/api'],
      // The stripped reading is public, the other is not a rule that allows parameters.
      ['/public;x/admin', {}, 400, null],
      ['/admin;x/panel', read, 400, null],
      ['/api;x/../admin', read, 400, null],
      ['/public/..;/admin/x', {}, 400, null],
      ['/public/%2e%2e;/admin/x', {}, 400, null],
      ['/api/x%3bv=1', read, 400, null],
    ];
    for (const [target, headers, status, servletPath] of cases) {
      const answer = await rawRequest(setup.gateway.url, target, headers);
      expect(answer.status, target).toBe(status);
      const view = viewOf(answer) as (UpstreamView & { servletPath?: string }) | null;
      if (servletPath === null) {
        expect(view, target).toBeNull();
      } else {
        expect(view?.raw, target).toBe(target);
        expect(view?.servletPath, target).toBe(servletPath);
        expect(view?.admin, target).toBe(false);
      }
    }
  });

  it("the gateway's own endpoints are never proxied, however spelled", async () => {
    const setup = setups[0] as Setup;
    const before = setup.upstream.hits.length;
    const read = { authorization: `Bearer ${setup.tokens.read}` };
    for (const target of [
      '//as/token.oauth2',
      '/as//token.oauth2',
      '/AS/token.oauth2',
      '/as/%74oken.oauth2',
      '//_ropc/auth',
      '/_ROPC/auth/api/x',
      '//_ropc/auth/api/x',
    ]) {
      const answer = await rawRequest(
        setup.gateway.url,
        target,
        { ...read, 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' },
        'POST',
      );
      expect(answer.status, target).toBe(400);
      expect(answer.body, target).toContain('invalid_request');
    }
    expect(setup.upstream.hits.slice(before)).toEqual([]);
  });

  it('the issue examples: refused with 400 invalid_request or 403, the reason logged', async () => {
    const setup = setups[0] as Setup;
    const read = { authorization: `Bearer ${setup.tokens.read}` };
    expect((await rawRequest(setup.gateway.url, '/%61dmin/panel', read)).status).toBe(403);
    expect((await rawRequest(setup.gateway.url, '//admin/panel', read)).status).toBe(403);
    expect((await rawRequest(setup.gateway.url, '/ADMIN/panel', read)).status).toBe(403);
    const semicolon = await rawRequest(setup.gateway.url, '/admin;x=1/panel', read);
    expect(semicolon.status).toBe(400);
    expect(semicolon.body).toContain('"error":"invalid_request"');
    expect((await rawRequest(setup.gateway.url, '/public/..;/admin/x')).status).toBe(400);
    // A public rule does not open its other-case spelling to a case-sensitive upstream.
    expect((await rawRequest(setup.gateway.url, '/PUBLIC/x')).status).toBe(401);
    const line = setup.gateway
      .logs()
      .find(
        (l) => l['msg'] === 'request' && l['status'] === 400 && typeof l['reason'] === 'string' && /segment/.test(l['reason'] as string),
      );
    expect(line).toBeDefined();
    expect(setup.gateway.logText()).not.toContain(setup.tokens.read as string);
  });
});

describe('WebSocket upgrades and the decision endpoint take the same canonical path', () => {
  let gateway: TestGateway;
  let tokens: Record<Who, string | undefined>;
  let upstream: Awaited<ReturnType<typeof startNodePathUpstream>>;
  const upgrades: string[] = [];

  beforeAll(async () => {
    upstream = await startNodePathUpstream();
    const wss = new WebSocketServer({ noServer: true });
    upstream.server.on('upgrade', (req, socket, head) => {
      upgrades.push(req.url ?? '');
      wss.handleUpgrade(req, socket, head, (ws) => ws.terminate());
    });
    ({ gateway, tokens } = await gatewayFor(upstream.url));
  });
  afterAll(async () => {
    await gateway?.stop();
    await upstream?.stop();
  });

  const ws = {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  };

  it('refuses the bypass spellings before the upgrade, forwards the canonical path', async () => {
    const read = { ...ws, authorization: `Bearer ${tokens.read}` };
    const cases: [string, number, string | null][] = [
      ['/%61dmin/socket', 403, null],
      ['//admin/socket', 403, null],
      ['/ADMIN/socket', 403, null],
      ['/admin;x/socket', 400, null],
      ['/api/..;/admin/socket', 400, null],
      ['/api/%2e%2e/admin/socket', 400, null],
      ['/api/x%2f..%2f..%2fadmin', 400, null],
      ['//api//%73ocket?x=1', 101, '/api/socket?x=1'],
      ['/API/Socket', 101, '/API/Socket'],
    ];
    for (const [target, status, forwarded] of cases) {
      const before = upgrades.length;
      const answer = await rawRequest(gateway.url, target, read);
      expect(answer.status, target).toBe(status);
      expect(upgrades.slice(before), target).toEqual(forwarded === null ? [] : [forwarded]);
    }
  });

  it('the decision endpoint judges the canonical form of the original URI (nginx and Envoy forms)', async () => {
    const read = { authorization: `Bearer ${tokens.read}` };
    const nginxForm: [string, Who, number][] = [
      ['/%61dmin/panel', 'read', 403],
      ['//admin/panel', 'read', 403],
      ['/ADMIN/panel', 'read', 403],
      ['/admin;x=1/panel', 'read', 400],
      ['/public/..;/admin/x', 'anonymous', 400],
      ['/public/%2e%2e/admin', 'anonymous', 400],
      ['/public/x', 'anonymous', 200],
      ['//api//x', 'read', 200],
    ];
    for (const [uri, who, status] of nginxForm) {
      const headers = { 'x-original-method': 'GET', 'x-original-uri': uri, ...(who === 'read' ? read : {}) };
      expect((await rawRequest(gateway.url, '/_ropc/auth', headers)).status, uri).toBe(status);
    }
    const envoyForm: [string, Who, number][] = [
      ['/_ropc/auth/%61dmin/panel', 'read', 403],
      ['/_ropc/auth//admin/panel', 'read', 403],
      ['/_ropc/auth/Admin/panel', 'read', 403],
      ['/_ropc/auth/api/..;/admin/y', 'read', 400],
      ['/_ropc/auth/public/.%2e/admin', 'anonymous', 400],
      ['/_ropc/auth/api/%61', 'read', 200],
    ];
    // The Envoy form is read only by a gateway whose decision.ingress is envoy.
    const envoy = await gatewayFor(upstream.url, { decision: { enabled: true, ingress: 'envoy' } });
    try {
      const envoyRead = { authorization: `Bearer ${envoy.tokens.read}` };
      for (const [target, who, status] of envoyForm) {
        expect((await rawRequest(envoy.gateway.url, target, who === 'read' ? envoyRead : {})).status, target).toBe(status);
      }
    } finally {
      await envoy.gateway.stop();
    }
  });
});

describe('nginx auth_request in front of a WSGI app: the decision judges what nginx forwards', () => {
  let gateway: TestGateway;
  let tokens: Record<Who, string | undefined>;
  let wsgi: PathUpstream;
  let nginx: NginxProcess;

  beforeAll(async () => {
    if (!nginxAvailable()) throw new Error('nginx is not installed: apt-get install -y nginx-light (bash .ci/run does it)');
    wsgi = await startWsgiApp();
    ({ gateway, tokens } = await gatewayFor(wsgi.url));
    // docs/routing.md's nginx example: X-Original-URI is $request_uri, the raw target nginx
    // then passes to the app (proxy_pass without a URI part).
    nginx = await startNginx(`
  server {
    listen 127.0.0.1:{{PORT}};
    location = /_ropc/auth {
      internal;
      proxy_pass http://127.0.0.1:${new URL(gateway.url).port};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
    }
    location / {
      auth_request /_ropc/auth;
      proxy_pass http://127.0.0.1:${new URL(wsgi.url).port};
    }
  }`);
  }, 60_000);
  afterAll(async () => {
    await nginx?.stop();
    await gateway?.stop();
    await wsgi?.stop();
  });

  it('no spelling reaches the admin page without the admin scope', async () => {
    const problems: string[] = [];
    for (const [target, who] of SPELLINGS) {
      const token = tokens[who];
      const answer = await rawRequest(nginx.url, target, token ? { authorization: `Bearer ${token}` } : {});
      const view = viewOf(answer);
      if (view?.admin && who !== 'admin')
        problems.push(`${JSON.stringify(target)} as ${who} → ${answer.status}: ADMIN PAGE (PATH_INFO ${JSON.stringify(view.view)})`);
    }
    expect(problems).toEqual([]);
    // The control: the admin token does get there, in any spelling nginx and the gateway agree on.
    for (const target of ['/admin/panel', '/%61dmin/panel', '//admin/panel']) {
      const answer = await rawRequest(nginx.url, target, { authorization: `Bearer ${tokens.admin}` });
      expect(viewOf(answer)?.admin, target).toBe(true);
    }
  });
});

describe('server.caseSensitivePaths: true', () => {
  it('matches the exact case only, and still forwards the canonical path', async () => {
    const upstream = await startNodePathUpstream();
    const { gateway, tokens } = await gatewayFor(upstream.url, { server: { caseSensitivePaths: true } });
    try {
      const read = { authorization: `Bearer ${tokens.read}` };
      expect((await rawRequest(gateway.url, '/admin/panel', read)).status).toBe(403);
      expect((await rawRequest(gateway.url, '/%61dmin/panel', read)).status).toBe(403);
      // For a case-sensitive upstream /ADMIN/panel is another resource: the default rule (a valid token) judges it.
      const other = await rawRequest(gateway.url, '//ADMIN//panel', read);
      expect(other.status).toBe(200);
      expect(viewOf(other)?.raw).toBe('/ADMIN/panel');
      expect((await rawRequest(gateway.url, '/PUBLIC/x')).status).toBe(401);
    } finally {
      await gateway.stop();
      await upstream.stop();
    }
  });
});
