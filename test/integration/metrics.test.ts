/**
 * Metrics on the admin port after real traffic (issue "Operations"): every family that
 * docs/operations.md lists is there, with the labels it documents.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';
import { deadPort } from '../support/echo-upstream.js';

let text: string;
const env = useGateway({
  config: async () => {
    const dead = await deadPort();
    return {
      lockout: { maxFailures: 2 },
      routes: [
        { path: '/public/**', auth: 'none' },
        { path: '/dead', upstream: `http://127.0.0.1:${dead}` },
      ],
    };
  },
});

/** The value of one sample, e.g. sample('ropc_token_requests_total', { grant_type: 'password', outcome: 'success' }). */
function sample(name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(/,(?=[a-z_]+=")/).filter(Boolean);
    if (wanted.every((w) => have.includes(w))) return Number(m[3]);
  }
  return undefined;
}

beforeAll(async () => {
  const token = (body: string, secret?: string) => env.token(body, secret === undefined ? {} : { secret });
  const ok = await token(`grant_type=password&username=joe&password=${USERS.joe.password}`);
  await token('grant_type=password&username=joe&password=wrong');
  await token('grant_type=password&username=alice&password=wrong-1');
  await token('grant_type=password&username=alice&password=wrong-2');
  await token(`grant_type=password&username=joe&password=${USERS.joe.password}`, 'bad-secret');
  await token('grant_type=magic');
  await token(`grant_type=refresh_token&refresh_token=${ok.json.refresh_token as string}`);
  const access = ok.json.access_token as string;
  for (const path of ['/api/a', '/api/b']) await fetch(`${env.gw.url}${path}`, { headers: { authorization: `Bearer ${access}` } });
  await fetch(`${env.gw.url}/api/a`);
  await fetch(`${env.gw.url}/public/x`);
  await fetch(`${env.gw.url}/dead`, { headers: { authorization: `Bearer ${access}` } });
  // The rotated refresh token again: reuse detected, its family revoked (last: the access token dies with it).
  await token(`grant_type=refresh_token&refresh_token=${ok.json.refresh_token as string}`);
  const res = await fetch(`${env.gw.adminUrl}/metrics`);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  text = await res.text();
});

describe('/metrics after traffic', () => {
  it('counts token requests by grant type and outcome', () => {
    expect(sample('ropc_token_requests_total', { grant_type: 'password', outcome: 'success' })).toBe(1);
    expect(sample('ropc_token_requests_total', { grant_type: 'password', outcome: 'invalid_grant' })).toBe(3);
    expect(sample('ropc_token_requests_total', { grant_type: 'none', outcome: 'invalid_client' })).toBe(1);
    expect(sample('ropc_token_requests_total', { grant_type: 'other', outcome: 'unsupported_grant_type' })).toBe(1);
    expect(sample('ropc_token_requests_total', { grant_type: 'refresh_token', outcome: 'success' })).toBe(1);
  });

  it('times validator calls by validator and outcome', () => {
    expect(sample('ropc_validator_duration_seconds_count', { validator: 'local', outcome: 'valid' })).toBe(1);
    expect(sample('ropc_validator_duration_seconds_count', { validator: 'local', outcome: 'invalid' })).toBe(3);
    expect(sample('ropc_validator_duration_seconds_sum', { validator: 'local', outcome: 'valid' })).toBeGreaterThan(0);
  });

  it('times token store operations', () => {
    expect(sample('ropc_store_duration_seconds_count', { operation: 'createFamily', outcome: 'ok' })).toBe(1);
    expect(sample('ropc_store_duration_seconds_count', { operation: 'getAccess', outcome: 'ok' })).toBeGreaterThanOrEqual(3);
    expect(text).toContain('# TYPE ropc_store_errors_total counter');
  });

  it('counts resource requests by route and status', () => {
    expect(sample('ropc_resource_requests_total', { route: '(default)', status: '200' })).toBe(2);
    expect(sample('ropc_resource_requests_total', { route: '(default)', status: '401' })).toBe(1);
    expect(sample('ropc_resource_requests_total', { route: '/public/**', status: '200' })).toBe(1);
    expect(sample('ropc_resource_requests_total', { route: '/dead', status: '502' })).toBe(1);
    expect(sample('ropc_resource_request_duration_seconds_count', { route: '(default)' })).toBe(3);
    expect(sample('ropc_resource_request_duration_seconds_count', { route: '/dead' })).toBe(1);
    expect(sample('ropc_http_request_duration_seconds_count', { kind: 'token', status: '200' })).toBe(2);
    expect(sample('ropc_http_requests_total', { kind: 'resource', status: '200' })).toBe(3);
  });

  it('times the upstream by upstream and outcome', () => {
    expect(sample('ropc_upstream_duration_seconds_count', { upstream: env.upstream.url, outcome: '2xx' })).toBe(3);
    expect(text).toMatch(/ropc_upstream_duration_seconds_count\{upstream="http:\/\/127\.0\.0\.1:\d+",outcome="error"\} 1/);
  });

  it('counts audit events by event and outcome, refresh reuse included', () => {
    expect(sample('ropc_audit_events_total', { event: 'login', outcome: 'success' })).toBe(1);
    expect(sample('ropc_audit_events_total', { event: 'login', outcome: 'failure' })).toBe(3);
    expect(sample('ropc_audit_events_total', { event: 'lockout', outcome: 'success' })).toBe(1);
    expect(sample('ropc_audit_events_total', { event: 'refresh', outcome: 'success' })).toBe(1);
    expect(sample('ropc_audit_events_total', { event: 'refresh_reuse', outcome: 'refused' })).toBe(1);
  });

  it('reports the store and each validator up, checked at the scrape', () => {
    expect(sample('ropc_store_up')).toBe(1);
    expect(sample('ropc_validator_up', { validator: 'local' })).toBe(1);
  });

  it('has no certificate expiry without server.tls', () => {
    expect(text).not.toMatch(/^ropc_tls_certificate_not_after_seconds\{/m);
  });

  it('counts lockouts', () => {
    expect(sample('ropc_lockouts_total', { kind: 'user' })).toBe(1);
    expect(sample('ropc_lockouts_total', { kind: 'ip' })).toBe(0);
  });

  it('reports the hash verifications running and waiting (none once the requests are answered)', () => {
    expect(sample('ropc_hash_verifications', { state: 'running' })).toBe(0);
    expect(sample('ropc_hash_verifications', { state: 'waiting' })).toBe(0);
  });

  it('reports open connections, WebSocket connections and Node process metrics', () => {
    expect(sample('ropc_open_connections', { listener: 'public' })).toBeGreaterThanOrEqual(0);
    expect(sample('ropc_websocket_connections')).toBe(0);
    for (const name of [
      'ropc_process_cpu_user_seconds_total',
      'ropc_process_resident_memory_bytes',
      'ropc_nodejs_eventloop_lag_seconds',
      'ropc_nodejs_heap_size_used_bytes',
    ]) {
      expect(sample(name), name).toBeGreaterThanOrEqual(0);
    }
  });

  it('never puts a request-controlled value in a label', () => {
    expect(text).not.toContain('magic');
    expect(text).not.toContain('/api/a');
    expect(text).not.toContain('alice');
  });
});
