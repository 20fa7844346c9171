/**
 * Tracing (docs/operations.md, "Tracing") on a real gateway exporting to a real OTLP/HTTP
 * receiver (test/support/otlp-receiver.ts, which decodes the JSON export requests), with a real
 * echo upstream that shows the traceparent it received:
 *
 * - off (the default): no OpenTelemetry SDK module is loaded, nothing is exported, and the
 *   client's traceparent passes upstream untouched, as any header;
 * - a password grant is one trace: the server span, and below it client_auth and the grant
 *   with its lockout, validator chain, validator and store spans, linked parent to child;
 * - a proxied request's upstream gets a traceparent naming the exported upstream span;
 * - untrusted (the default): an incoming traceparent starts nothing — the trace is new and the
 *   upstream gets the gateway's traceparent, no tracestate; trusted: the trace is continued;
 * - no exported byte holds a password, a secret, a token, an Authorization value or a username;
 * - sampleRatio 0: nothing exported, the upstream still gets a (not sampled) traceparent;
 * - a WebSocket handshake is traced like a request, its upstream gets the traceparent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, CLIENT, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { waitFor } from '../support/wait-for.js';

const SERVER = 2;
const CLIENT_KIND = 3;
/** A traceparent a client makes up (W3C Trace Context §3.2). */
const CLIENT_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_PARENT_ID = 'b7ad6b7169203331';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-${CLIENT_PARENT_ID}-01`;
const CLIENT_TRACESTATE = 'vendor=opaque-value';
const WRONG = 'wrong-password-5';

const tokenUrl = (gw: TestGateway) => gw.tokenUrl;
const grant = (gw: TestGateway, requestId: string, password: string = USERS.joe.password, headers: Record<string, string> = {}) =>
  postForm(tokenUrl(gw), `grant_type=password&username=${USERS.joe.username}&password=${encodeURIComponent(password)}&scope=read`, {
    authorization: basicAuth(),
    'x-request-id': requestId,
    ...headers,
  });

interface Echo {
  headers: Record<string, string | undefined>;
}
async function proxied(gw: TestGateway, token: string, requestId: string, headers: Record<string, string> = {}): Promise<Echo> {
  const res = await fetch(`${gw.url}/hello`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId, ...headers } });
  expect(res.status).toBe(200);
  return (await res.json()) as Echo;
}

function parseTraceparent(value: string | undefined): { traceId: string; parentId: string; flags: string } {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value ?? '');
  if (!m) throw new Error(`not a traceparent: ${String(value)}`);
  return { traceId: m[1]!, parentId: m[2]!, flags: m[3]! };
}

/** The server span of the request `requestId` and every span of its trace, once exported. */
async function traceOf(gw: TestGateway, receiver: OtlpReceiver, requestId: string): Promise<{ root: ReceivedSpan; spans: ReceivedSpan[] }> {
  let root: ReceivedSpan | undefined;
  await waitFor(
    async () => {
      await gw.gateway.tracing?.flush();
      root = receiver.spans().find((s) => s.kind === SERVER && s.attributes['ropc.request_id'] === requestId);
      return root !== undefined;
    },
    10_000,
    `the server span of ${requestId}`,
  );
  return { root: root!, spans: receiver.spans().filter((s) => s.traceId === root!.traceId) };
}

function only(spans: readonly ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((s) => s.name === name);
  expect(
    found.map((s) => s.name),
    `exactly one span ${name} in ${spans.map((s) => s.name).join(', ')}`,
  ).toEqual([name]);
  return found[0]!;
}

/** OpenTelemetry SDK modules loaded in this process (they are CommonJS: Node's require cache lists them). */
function sdkModulesLoaded(): string[] {
  const cache = createRequire(import.meta.url).cache;
  return Object.keys(cache).filter((path) =>
    /@opentelemetry[\\/](sdk-trace|exporter-trace|resources|context-async-hooks|otlp-)/.test(path),
  );
}

let upstream: Upstream;
beforeAll(async () => {
  upstream = await startEchoUpstream();
});
afterAll(async () => {
  await upstream.close();
});

// First in this file: once a traced gateway started, the SDK modules stay loaded.
describe('tracing off (the default)', () => {
  let gw: TestGateway;
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    gw = await startGateway({ upstream: upstream.url });
  });
  afterAll(async () => {
    await gw.stop();
    await receiver.close();
  });

  it('loads no SDK module, exports nothing and passes the client traceparent through as any header', async () => {
    expect(gw.gateway.tracing).toBeUndefined();
    const res = await grant(gw, 'off-1');
    expect(res.status).toBe(200);
    const echo = await proxied(gw, String(res.json.access_token), 'off-2', {
      traceparent: CLIENT_TRACEPARENT,
      tracestate: CLIENT_TRACESTATE,
    });
    expect(echo.headers.traceparent).toBe(CLIENT_TRACEPARENT);
    expect(echo.headers.tracestate).toBe(CLIENT_TRACESTATE);
    expect(sdkModulesLoaded()).toEqual([]);
    expect(receiver.bodies()).toEqual([]);
  });
});

describe('tracing on, incoming traceparent not trusted (the default)', () => {
  let gw: TestGateway;
  let receiver: OtlpReceiver;
  const sent: string[] = [USERS.joe.password, CLIENT.secret, WRONG, basicAuth(), USERS.joe.username];
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    gw = await startGateway({
      upstream: upstream.url,
      config: { tracing: { enabled: true, endpoint: receiver.url, serviceName: 'gw-under-test' } },
    });
  });
  afterAll(async () => {
    await gw.stop();
    await receiver.close();
  });

  it('loads the SDK once enabled (so the check of the test above can fail)', () => {
    expect(gw.gateway.tracing).toBeDefined();
    expect(sdkModulesLoaded().length).toBeGreaterThan(0);
  });

  it('exports a password grant as one trace: server span, client_auth, grant and its steps, each linked to its parent', async () => {
    const res = await grant(gw, 'grant-1');
    expect(res.status).toBe(200);
    sent.push(String(res.json.access_token), String(res.json.refresh_token));
    const { root, spans } = await traceOf(gw, receiver, 'grant-1');

    expect(root.parentSpanId).toBeUndefined();
    expect(root.name).toBe('POST /as/token.oauth2');
    expect(root.resource['service.name']).toBe('gw-under-test');
    expect(root.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.response.status_code': 200,
      'http.route': '/as/token.oauth2',
      'ropc.client_id': CLIENT.id,
      'ropc.grant_type': 'password',
    });

    const clientAuth = only(spans, 'client_auth');
    const grantSpan = only(spans, 'grant password');
    expect(clientAuth.parentSpanId).toBe(root.spanId);
    expect(grantSpan.parentSpanId).toBe(root.spanId);

    const reserve = only(spans, 'lockout.reserve');
    const chain = only(spans, 'validator_chain');
    const settle = only(spans, 'lockout.settle');
    const store = only(spans, 'store.createFamily');
    for (const step of [reserve, chain, settle, store]) expect(step.parentSpanId, step.name).toBe(grantSpan.spanId);
    expect(reserve.attributes['ropc.lockout.admitted']).toBe(true);
    expect(settle.attributes['ropc.lockout.result']).toBe('success');
    expect(chain.attributes).toMatchObject({ 'ropc.validator.outcome': 'valid', 'ropc.validator.name': 'local' });
    expect(store.kind).toBe(CLIENT_KIND);
    expect(store.attributes['ropc.store.operation']).toBe('createFamily');

    const validator = only(spans, 'validator.validate');
    expect(validator.parentSpanId).toBe(chain.spanId);
    expect(validator.attributes).toMatchObject({
      'ropc.validator.name': 'local',
      'ropc.validator.type': 'file',
      'ropc.validator.outcome': 'valid',
    });
    expect(spans.map((s) => s.name).sort()).toEqual(
      [
        'POST /as/token.oauth2',
        'client_auth',
        'grant password',
        'lockout.reserve',
        'validator_chain',
        'validator.validate',
        'lockout.settle',
        'store.createFamily',
      ].sort(),
    );
  });

  it("exports a refused login with its error code and the validator's reason, as a 4xx that is not a server fault", async () => {
    const res = await grant(gw, 'grant-wrong', WRONG);
    expect(res.status).toBe(400);
    const { root, spans } = await traceOf(gw, receiver, 'grant-wrong');
    expect(root.attributes).toMatchObject({ 'http.response.status_code': 400, 'ropc.error': 'invalid_grant' });
    expect(root.statusCode).toBe(0);
    expect(only(spans, 'validator.validate').attributes).toMatchObject({
      'ropc.validator.outcome': 'invalid',
      'ropc.validator.reason': 'invalid-password',
    });
    expect(only(spans, 'lockout.settle').attributes['ropc.lockout.result']).toBe('failure');
    expect(only(spans, 'grant password').attributes['error.type']).toBe('invalid_grant');
  });

  it('exports a refresh: the grant, the subject re-checked by its validator, the store lookups and the rotation', async () => {
    const login = await grant(gw, 'refresh-login');
    sent.push(String(login.json.access_token), String(login.json.refresh_token));
    const res = await postForm(
      tokenUrl(gw),
      `grant_type=refresh_token&refresh_token=${encodeURIComponent(String(login.json.refresh_token))}`,
      { authorization: basicAuth(), 'x-request-id': 'refresh-1' },
    );
    expect(res.status).toBe(200);
    sent.push(String(res.json.access_token), String(res.json.refresh_token));
    const { root, spans } = await traceOf(gw, receiver, 'refresh-1');
    expect(root.attributes['ropc.grant_type']).toBe('refresh_token');
    const grantSpan = only(spans, 'grant refresh_token');
    expect(grantSpan.parentSpanId).toBe(root.spanId);
    for (const name of ['store.getRefresh', 'validator.recheck', 'store.rotate'])
      expect(only(spans, name).parentSpanId, name).toBe(grantSpan.spanId);
    expect(only(spans, 'validator.recheck').attributes).toMatchObject({ 'ropc.validator.name': 'local', 'ropc.validator.type': 'file' });
  });

  it('marks a refused client authentication on its client_auth span', async () => {
    const res = await postForm(tokenUrl(gw), 'grant_type=password&username=joe&password=x', {
      authorization: basicAuth(CLIENT.id, 'not-the-secret'),
      'x-request-id': 'bad-client',
    });
    sent.push('not-the-secret', basicAuth(CLIENT.id, 'not-the-secret'));
    expect(res.status).toBe(401);
    const { root, spans } = await traceOf(gw, receiver, 'bad-client');
    expect(root.attributes['ropc.error']).toBe('invalid_client');
    const clientAuth = only(spans, 'client_auth');
    expect(clientAuth.statusCode).toBe(2);
    expect(clientAuth.attributes['error.type']).toBe('invalid_client');
    expect(spans.map((s) => s.name)).not.toContain('grant password');
  });

  it("starts a new trace for a client's traceparent, and the upstream gets the gateway's, naming the exported upstream span", async () => {
    const login = await grant(gw, 'grant-2');
    const token = String(login.json.access_token);
    sent.push(token, String(login.json.refresh_token));
    const echo = await proxied(gw, token, 'proxy-1', { traceparent: CLIENT_TRACEPARENT, tracestate: CLIENT_TRACESTATE });
    const seen = parseTraceparent(echo.headers.traceparent);
    expect(echo.headers.tracestate).toBeUndefined();
    expect(seen.traceId).not.toBe(CLIENT_TRACE_ID);
    expect(seen.flags).toBe('01');

    const { root, spans } = await traceOf(gw, receiver, 'proxy-1');
    expect(root.parentSpanId).toBeUndefined();
    expect(root.traceId).toBe(seen.traceId);
    expect(root.name).toBe('GET (default)');
    expect(root.attributes).toMatchObject({ 'http.route': '(default)', 'http.response.status_code': 200, 'ropc.kind': 'resource' });
    const call = only(spans, 'GET upstream');
    expect(call.kind).toBe(CLIENT_KIND);
    expect(call.spanId).toBe(seen.parentId);
    expect(call.parentSpanId).toBe(root.spanId);
    expect(call.attributes).toMatchObject({ 'http.response.status_code': 200, 'server.address': '127.0.0.1' });
    expect(only(spans, 'store.getAccess').parentSpanId).toBe(root.spanId);
    // Nothing anywhere carries the client's ids.
    expect(receiver.bodies().join('\n')).not.toContain(CLIENT_TRACE_ID);
  });

  it('never exports a password, a secret, a token, an Authorization value or a username', async () => {
    await gw.gateway.tracing?.flush();
    const spans = receiver.spans();
    expect(spans.length).toBeGreaterThan(10);
    const values = spans.flatMap((s) => [
      s.name,
      s.statusMessage ?? '',
      ...Object.values(s.attributes).map(String),
      ...s.events.flatMap((e) => [e.name, ...Object.values(e.attributes).map(String)]),
    ]);
    for (const secret of sent) {
      expect(
        values.filter((v) => v.includes(secret)),
        secret,
      ).toEqual([]);
      expect(
        receiver.bodies().some((b) => b.includes(secret)),
        secret,
      ).toBe(false);
    }
    expect(values.filter((v) => /bearer|basic /i.test(v))).toEqual([]);
  });
});

describe('tracing on, trustIncomingTraceparent', () => {
  let gw: TestGateway;
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    gw = await startGateway({
      upstream: upstream.url,
      config: { tracing: { enabled: true, endpoint: receiver.url, trustIncomingTraceparent: true } },
    });
  });
  afterAll(async () => {
    await gw.stop();
    await receiver.close();
  });

  it('continues the incoming trace, and the upstream gets it with the tracestate', async () => {
    const login = await grant(gw, 'trusted-grant', USERS.joe.password, { traceparent: CLIENT_TRACEPARENT });
    expect(login.status).toBe(200);
    const first = await traceOf(gw, receiver, 'trusted-grant');
    expect(first.root.traceId).toBe(CLIENT_TRACE_ID);
    expect(first.root.parentSpanId).toBe(CLIENT_PARENT_ID);

    const echo = await proxied(gw, String(login.json.access_token), 'trusted-proxy', {
      traceparent: CLIENT_TRACEPARENT,
      tracestate: CLIENT_TRACESTATE,
    });
    const seen = parseTraceparent(echo.headers.traceparent);
    expect(seen.traceId).toBe(CLIENT_TRACE_ID);
    expect(seen.parentId).not.toBe(CLIENT_PARENT_ID);
    expect(echo.headers.tracestate).toBe(CLIENT_TRACESTATE);
    const { root, spans } = await traceOf(gw, receiver, 'trusted-proxy');
    expect(root.parentSpanId).toBe(CLIENT_PARENT_ID);
    expect(
      only(
        spans.filter((s) => s.attributes['ropc.upstream'] !== undefined && s.parentSpanId === root.spanId),
        'GET upstream',
      ).spanId,
    ).toBe(seen.parentId);
  });

  it('starts a new trace when the incoming traceparent is malformed', async () => {
    const res = await grant(gw, 'trusted-malformed', USERS.joe.password, { traceparent: `00-${'0'.repeat(32)}-${CLIENT_PARENT_ID}-01` });
    expect(res.status).toBe(200);
    const { root } = await traceOf(gw, receiver, 'trusted-malformed');
    expect(root.parentSpanId).toBeUndefined();
    expect(root.traceId).not.toBe('0'.repeat(32));
  });
});

describe('tracing on, sampleRatio 0', () => {
  let gw: TestGateway;
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    gw = await startGateway({ upstream: upstream.url, config: { tracing: { enabled: true, endpoint: receiver.url, sampleRatio: 0 } } });
  });
  afterAll(async () => {
    await gw.stop();
    await receiver.close();
  });

  it("records nothing, and the upstream gets a traceparent of the gateway's that says not sampled", async () => {
    const login = await grant(gw, 'unsampled-grant');
    expect(login.status).toBe(200);
    const echo = await proxied(gw, String(login.json.access_token), 'unsampled-proxy', { traceparent: CLIENT_TRACEPARENT });
    const seen = parseTraceparent(echo.headers.traceparent);
    expect(seen.traceId).not.toBe(CLIENT_TRACE_ID);
    expect(seen.flags).toBe('00');
    await gw.gateway.tracing?.flush();
    expect(receiver.spans()).toEqual([]);
  });
});

describe('tracing on, WebSocket', () => {
  let gw: TestGateway;
  let receiver: OtlpReceiver;
  let wsUpstream: http.Server;
  let wss: WebSocketServer;
  const upgrades: http.IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    wsUpstream = http.createServer((_req, res) => res.writeHead(404).end());
    wss = new WebSocketServer({ noServer: true });
    wsUpstream.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        upgrades.push(req.headers);
        ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
      });
    });
    await new Promise<void>((resolve) => wsUpstream.listen(0, '127.0.0.1', resolve));
    receiver = await startOtlpReceiver();
    gw = await startGateway({
      upstream: `http://127.0.0.1:${(wsUpstream.address() as AddressInfo).port}`,
      config: { tracing: { enabled: true, endpoint: receiver.url }, routes: [{ path: '/ws/public', auth: 'none' }] },
    });
  });
  afterAll(async () => {
    await gw.stop();
    await receiver.close();
    wss.close();
    wsUpstream.closeAllConnections();
    await new Promise<void>((resolve) => wsUpstream.close(() => resolve()));
  });

  it("traces the handshake and sends the upstream span's traceparent, not the client's", async () => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws/public`, {
      headers: { traceparent: CLIENT_TRACEPARENT, 'x-request-id': 'ws-1' },
    });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('hi'));
      ws.once('message', (data) => resolve(String(data)));
      ws.once('error', reject);
    });
    expect(reply).toBe('echo:hi');
    ws.close();
    const seen = parseTraceparent(upgrades[0]?.traceparent as string | undefined);
    expect(seen.traceId).not.toBe(CLIENT_TRACE_ID);
    const { root, spans } = await traceOf(gw, receiver, 'ws-1');
    expect(root.traceId).toBe(seen.traceId);
    expect(root.attributes).toMatchObject({ 'http.response.status_code': 101, 'http.route': '/ws/public' });
    const call = only(spans, 'GET upstream');
    expect(call.spanId).toBe(seen.parentId);
    expect(call.attributes['http.response.status_code']).toBe(101);
  });
});
