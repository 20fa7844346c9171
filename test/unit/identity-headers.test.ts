/**
 * Identity header values and the strip rules (src/resource/identity-headers.ts,
 * docs/routing.md "Headers"): one encoding whose decoding is unique, list elements encoded
 * before joining; every identity, address and override header stripped in every spelling;
 * headers.passThrough validated.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileHeaderRules, encodeHeaderValue, type Identity } from '../../src/resource/identity-headers.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const IDENTITY = {
  'X-Auth-Subject': 'sub',
  'X-Auth-Client-Id': 'client_id',
  'X-Auth-Scope': 'scope',
  'X-Auth-Groups': 'groups',
  'X-Auth-Email': 'attributes.email',
};
const rules = (extra: Partial<Parameters<typeof compileHeaderRules>[0]> = {}) =>
  compileHeaderRules({ identity: IDENTITY, removeAuthorization: true, trustProxy: false, ...extra });
const who = (over: Partial<Identity>): Identity => ({ sub: 'joe', clientId: 'app', scope: ['read'], groups: [], attributes: {}, ...over });
const decodeList = (value: string, sep: string) => value.split(sep).map((v) => decodeURIComponent(v));

describe('identity header values', () => {
  it('keep plain visible ASCII as is', () => {
    expect(encodeHeaderValue('joe.doe@example.org')).toBe('joe.doe@example.org');
    expect(encodeHeaderValue('CN=Joe;O="x"')).toBe('CN=Joe;O="x"');
  });

  it('encode every % , and byte outside visible ASCII, so decoding is unique', () => {
    expect(encodeHeaderValue('björn')).toBe('bj%C3%B6rn');
    expect(encodeHeaderValue('bj%C3%B6rn')).toBe('bj%25C3%25B6rn');
    expect(encodeHeaderValue('R&D, Europe')).toBe('R&D%2C%20Europe');
    expect(encodeHeaderValue('a\r\nX-Auth-Subject: root')).toBe('a%0D%0AX-Auth-Subject:%20root');
    for (const v of ['björn', 'bj%C3%B6rn', 'R&D, Europe', '%', '%%2C', ' lead', 'tab\there', '日本', '\u{1F600}'])
      expect(decodeURIComponent(encodeHeaderValue(v))).toBe(v);
  });

  it('encode list elements before joining, so one never splits', () => {
    const values = Object.fromEntries(
      rules().values(
        who({ sub: 'björn', groups: ['R&D, Europe', 'admins', 'a%2Cb'], scope: ['read', 'edit'], attributes: { email: 'bj%C3%B6rn@x' } }),
      ),
    );
    expect(values['x-auth-subject']).toBe('bj%C3%B6rn');
    expect(values['x-auth-groups']).toBe('R&D%2C%20Europe,admins,a%252Cb');
    expect(decodeList(values['x-auth-groups'] as string, ',')).toEqual(['R&D, Europe', 'admins', 'a%2Cb']);
    expect(values['x-auth-scope']).toBe('read edit');
    expect(values['x-auth-email']).toBe('bj%25C3%25B6rn@x');
    const other = Object.fromEntries(rules().values(who({ sub: 'bj%C3%B6rn' })));
    expect(other['x-auth-subject']).not.toBe(values['x-auth-subject']);
  });
});

describe('the strip rules', () => {
  const STRIPPED = [
    'x-forwarded-user',
    'x-forwarded-email',
    'x-forwarded-groups',
    'x-forwarded-preferred-username',
    'x-forwarded-access-token',
    'x-forwarded-prefix',
    'x-forwarded-ssl',
    'forwarded',
    'x-remote-user',
    'remote-user',
    'remote-groups',
    'x-user',
    'x-email',
    'x-auth-request-user',
    'x-auth-subject',
    'x-auth-whatever',
    'x-http-method-override',
    'x-http-method',
    'x-method-override',
    'x-original-url',
    'x-rewrite-url',
    'x-original-uri',
    'x-original-method',
    'x-real-ip',
    'true-client-ip',
    'x-pomerium-jwt-assertion',
    'cf-access-authenticated-user-email',
    'x-ms-client-principal-name',
    'oidc_claim_sub',
    'ssl_client_cert',
    'x-envoy-original-path',
    'x_forwarded_user',
    'x_http_method_override',
    'x_remote_user',
  ];

  it('strip every identity, address and override header, in `_` spelling too', () => {
    const r = rules();
    for (const name of STRIPPED) expect(r.strips(name), name).toBe(true);
    for (const name of ['accept', 'content-type', 'user-agent', 'cookie', 'x-request-id', 'x-custom-thing'])
      expect(r.strips(name), name).toBe(false);
  });

  it('with trustProxy keep only X-Forwarded-For/-Proto/-Host/-Port, and never their `_` spelling', () => {
    const r = rules({ trustProxy: true });
    for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port'])
      expect(r.strips(name), name).toBe(false);
    for (const name of ['x-forwarded-user', 'x-forwarded-prefix', 'x_forwarded_for', 'forwarded', 'x_request_id'])
      expect(r.strips(name), name).toBe(true);
  });

  it('pass a passThrough header in its exact spelling only', () => {
    const r = rules({ passThrough: ['X-Real-IP', 'Remote-User'] });
    expect(r.strips('x-real-ip')).toBe(false);
    expect(r.strips('remote-user')).toBe(false);
    expect(r.strips('x_real_ip')).toBe(true);
    expect(r.strips('remote_user')).toBe(true);
  });

  it('scrub removes them from a request and sets the forwarding headers', () => {
    const headers: Record<string, string> = {
      host: 'gw',
      accept: '*/*',
      'x-forwarded-user': 'admin',
      x_remote_user: 'admin',
      'x-forwarded-for': '10.6.6.6',
      'x-http-method-override': 'DELETE',
    };
    rules().scrub(headers, { peerIp: '127.0.0.1', proto: 'http', requestId: 'r1', upgrade: false });
    expect(headers).toEqual({
      host: 'gw',
      accept: '*/*',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'gw',
      'x-request-id': 'r1',
    });
  });
});

describe('headers.passThrough and headers.assertion configuration', () => {
  const problems = (yaml: string): string[] => {
    const dir = mkdtempSync(join(tmpdir(), 'ropc-hdr-'));
    const path = join(dir, 'gateway.yaml');
    writeFileSync(path, `store: { type: memory }\nupstream: { url: "http://127.0.0.1:8080" }\n${yaml}\n`);
    try {
      loadConfig({ mode: 'production', file: path, env: {} });
    } catch (err) {
      if (err instanceof ConfigError) return [...err.problems];
      throw err;
    }
    return [];
  };

  it('refuses owned, gateway-set, hop-by-hop and never-stripped names', () => {
    const found = problems(
      'headers: { passThrough: [X-Auth-Subject, X-Auth-Other, X-Forwarded-For, Authorization, Connection, X-Custom, X-Real-IP, X-Forwarded-User] }',
    );
    expect(found).toEqual([
      'headers.passThrough: "X-Auth-Subject" is a header the gateway sets (headers.identity, X-Auth-*, the assertion header); it cannot come from the client',
      'headers.passThrough: "X-Auth-Other" is a header the gateway sets (headers.identity, X-Auth-*, the assertion header); it cannot come from the client',
      'headers.passThrough: "X-Forwarded-For" is set by the gateway; server.trustProxy decides whether an inbound one is kept',
      'headers.passThrough: "Authorization" is hop-by-hop or Authorization, never passed this way',
      'headers.passThrough: "Connection" is hop-by-hop or Authorization, never passed this way',
      'headers.passThrough: "X-Custom" is not stripped; nothing to pass through',
    ]);
    expect(problems('headers: { passThrough: [X_Real_IP] }')).toEqual([
      expect.stringMatching(/^headers\.passThrough: must be a list of header names/),
    ]);
    expect(problems('headers: { identity: { Remote-User: sub }, passThrough: [remote-user] }')).toEqual([
      expect.stringContaining('"remote-user" is a header the gateway sets'),
    ]);
  });

  it('refuses an assertion header that is an identity header, and a key that is not EC P-256', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ropc-key-'));
    writeFileSync(join(dir, 'bad.pem'), 'not a key');
    expect(
      problems(`headers: { identity: { X-Auth-Assertion: sub }, assertion: { enabled: true, keyFile: ${join(dir, 'bad.pem')} } }`),
    ).toEqual([
      'headers.assertion.header: "X-Auth-Assertion" is also in headers.identity',
      expect.stringMatching(/^headers\.assertion\.keyFile: cannot read a PEM private key from /),
    ]);
  });
});
