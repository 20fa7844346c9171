/**
 * Audit events (docs/operations.md, "Audit events") from a real gateway on a real Redis:
 * each security-relevant fact — logins through the password grant and the Basic bridge,
 * lockouts of a user and of an IP, the unlock command, refresh, reuse, family revocation,
 * revocation, introspection by another client, client authentication failure, reloads —
 * is one JSON line in audit.file with the documented fields, and no line carries a
 * password, a client secret, a token or an Authorization value.
 *
 * Every scenario comes from its own client IP (X-Forwarded-For, trustProxy), so its events can
 * be told apart and the IP budgets of the scenarios do not mix.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { basicAuth, CLIENT, postForm, USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';
import { loadConfig } from '../../src/config/load.js';
import { lockoutCommand } from '../../src/cli/lockout.js';
import { userKey } from '../../src/security/lockout.js';
import { hashSecret } from '../../src/security/password-hash.js';

type Event = Record<string, unknown>;

/** A password typed into the username field: it must never be written. */
const PASSWORD_AS_USERNAME = 'Typed-My-Password-Here-9!';
const WRONG = 'wrong-password-7';
const BASIC_WRONG = 'basic-wrong-password-3';
const UNKNOWN = ['nobody-1', 'nobody-2', 'nobody-3', 'nobody-4'];
/** Every field name of schema v1 (docs/operations.md). */
const FIELDS = new Set([
  'kind',
  'v',
  'time',
  'event',
  'outcome',
  'reason',
  'request_id',
  'client_id',
  'client_ip',
  'sub',
  'username_key',
  'validator',
  'via',
  'scope',
  'lock_seconds',
  'token_client_id',
  'token_type',
  'revoked',
  'active',
  'was_locked',
  'actor',
]);

const dir = mkdtempSync(join(tmpdir(), 'ropc-audit-'));
const auditFile = join(dir, 'audit.jsonl');
const env = useGateway({
  redis: true,
  config: {
    server: { trustProxy: true },
    audit: { destination: 'file', file: auditFile },
    lockout: { maxFailures: 2, lockSeconds: 60, ipMaxFailuresPerMinute: 3 },
    routes: [{ path: '/legacy/**', auth: 'bearer-or-basic', basicClient: 'app' }],
    basicBridge: { cacheSeconds: 0 },
  },
});
/** Every credential the test sends: none may appear in the audit file. */
const secrets: string[] = [USERS.joe.password, USERS.alice.password, CLIENT.secret, PASSWORD_AS_USERNAME, WRONG, BASIC_WRONG];

/** Headers of a request from `ip`, with the request id `req-IP`. */
const from = (ip: string, authorization?: string) => ({
  ...(authorization ? { authorization } : {}),
  'x-forwarded-for': ip,
  'x-request-id': `req-${ip}`,
});
const token = (ip: string, body: string, authorization = basicAuth()) => postForm(env.gw.tokenUrl, body, from(ip, authorization));
const passwordGrant = (ip: string, username: string, password: string) =>
  token(ip, `grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(password)}`);
const otherClient = () => basicAuth('other', CLIENT.secret);

function events(): Event[] {
  return readFileSync(auditFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Event);
}

/** The events that match every field of `where`; asserts there is exactly one and returns it. */
function one(where: Event): Event {
  const found = events().filter((e) => Object.entries(where).every(([k, v]) => e[k] === v));
  expect(found, JSON.stringify(where)).toHaveLength(1);
  return found[0]!;
}

function fromIp(ip: string): Event[] {
  return events().filter((e) => e.client_ip === ip);
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('audit events', () => {
  let tokens: { access: string; refresh: string };

  it('login success through the password grant: sub, validator, username_key, client, IP, request id', async () => {
    const res = await passwordGrant('10.1.0.1', 'joe', USERS.joe.password);
    expect(res.status).toBe(200);
    tokens = { access: res.json.access_token as string, refresh: res.json.refresh_token as string };
    secrets.push(tokens.access, tokens.refresh);
    const e = one({ event: 'login', client_ip: '10.1.0.1' });
    expect(e).toMatchObject({
      kind: 'audit',
      v: 1,
      outcome: 'success',
      via: 'password_grant',
      sub: 'joe',
      validator: 'local',
      client_id: 'app',
      username_key: userKey('joe'),
      request_id: 'req-10.1.0.1',
    });
    expect(Date.parse(e.time as string)).not.toBeNaN();
  });

  it('failed logins with their reason, and the user lockout they cause', async () => {
    expect((await passwordGrant('10.1.0.2', 'alice', WRONG)).status).toBe(400);
    expect((await passwordGrant('10.1.0.2', 'alice', WRONG)).status).toBe(400);
    const failures = fromIp('10.1.0.2').filter((e) => e.event === 'login');
    expect(failures).toHaveLength(2);
    for (const e of failures)
      expect(e).toMatchObject({
        outcome: 'failure',
        reason: 'invalid_password',
        validator: 'local',
        username_key: userKey('alice'),
        client_id: 'app',
      });
    expect(one({ event: 'lockout', scope: 'user', client_ip: '10.1.0.2' })).toMatchObject({
      outcome: 'success',
      reason: 'failures',
      username_key: userKey('alice'),
      lock_seconds: 60,
    });

    // The right password of a locked user: refused, and the validators are not asked.
    expect((await passwordGrant('10.1.0.3', 'alice', USERS.alice.password)).status).toBe(400);
    expect(one({ event: 'login', client_ip: '10.1.0.3' })).toMatchObject({
      outcome: 'refused',
      reason: 'locked',
      username_key: userKey('alice'),
    });
  });

  it('an unknown user is named by its digest only, so a password typed as the username is never written', async () => {
    expect((await passwordGrant('10.1.0.4', PASSWORD_AS_USERNAME, 'x')).status).toBe(400);
    expect(one({ event: 'login', client_ip: '10.1.0.4' })).toMatchObject({
      outcome: 'failure',
      reason: 'unknown_user',
      username_key: userKey(PASSWORD_AS_USERNAME),
    });
  });

  it('an IP out of its failure budget: one lockout event, then refused logins', async () => {
    for (const name of UNKNOWN) expect((await passwordGrant('10.1.0.5', name, 'x')).status).toBe(400);
    const logins = fromIp('10.1.0.5').filter((e) => e.event === 'login');
    expect(logins.map((e) => e.reason)).toEqual(['unknown_user', 'unknown_user', 'unknown_user', 'ip_blocked']);
    expect(logins[3]).toMatchObject({ outcome: 'refused' });
    expect(one({ event: 'lockout', scope: 'ip', client_ip: '10.1.0.5' })).toMatchObject({
      outcome: 'success',
      reason: 'failures',
      client_id: 'app',
    });
    expect(one({ event: 'lockout', client_ip: '10.1.0.5' }).username_key).toBeUndefined();
  });

  it('Basic bridge logins, success and failure, marked via basic_bridge', async () => {
    const good = `Basic ${Buffer.from(`joe:${USERS.joe.password}`).toString('base64')}`;
    const bad = `Basic ${Buffer.from(`joe:${BASIC_WRONG}`).toString('base64')}`;
    secrets.push(good, bad, good.slice(6), bad.slice(6));
    const ok = await fetch(`${env.gw.url}/legacy/x`, { headers: from('10.1.0.6', good) });
    expect(ok.status).toBe(200);
    expect((await fetch(`${env.gw.url}/legacy/x`, { headers: from('10.1.0.7', bad) })).status).toBe(401);
    expect(one({ event: 'login', client_ip: '10.1.0.6' })).toMatchObject({
      outcome: 'success',
      via: 'basic_bridge',
      sub: 'joe',
      client_id: 'app',
      request_id: 'req-10.1.0.6',
    });
    expect(one({ event: 'login', client_ip: '10.1.0.7' })).toMatchObject({
      outcome: 'failure',
      reason: 'invalid_password',
      via: 'basic_bridge',
      username_key: userKey('joe'),
    });
  });

  it('refresh, then reuse of the rotated refresh token: the reuse event says the family is revoked', async () => {
    const res = await token('10.1.0.8', `grant_type=refresh_token&refresh_token=${tokens.refresh}`);
    expect(res.status).toBe(200);
    secrets.push(res.json.access_token as string, res.json.refresh_token as string);
    expect(one({ event: 'refresh', client_ip: '10.1.0.8' })).toMatchObject({
      outcome: 'success',
      sub: 'joe',
      client_id: 'app',
      validator: 'local',
      request_id: 'req-10.1.0.8',
    });
    expect((await token('10.1.0.9', `grant_type=refresh_token&refresh_token=${tokens.refresh}`)).status).toBe(400);
    expect(one({ event: 'refresh_reuse', client_ip: '10.1.0.9' })).toMatchObject({
      outcome: 'refused',
      sub: 'joe',
      client_id: 'app',
      token_client_id: 'app',
    });
  });

  it("revocation (own and another client's token) and introspection by another client", async () => {
    const login = await passwordGrant('10.1.0.10', 'joe', USERS.joe.password);
    const access = login.json.access_token as string;
    const refresh = login.json.refresh_token as string;
    secrets.push(access, refresh);
    const revoke = (ip: string, t: string, authorization: string) => postForm(env.gw.revocationUrl, `token=${t}`, from(ip, authorization));

    expect((await revoke('10.1.0.11', access, otherClient())).status).toBe(200);
    expect(one({ event: 'revocation', client_ip: '10.1.0.11' })).toMatchObject({
      outcome: 'refused',
      reason: 'foreign_token',
      client_id: 'other',
      token_client_id: 'app',
      token_type: 'access_token',
      revoked: 'none',
      request_id: 'req-10.1.0.11',
    });

    const introspect = await postForm(`${env.gw.url}/as/introspect.oauth2`, `token=${access}`, from('10.1.0.12', otherClient()));
    expect(introspect.json).toEqual({ active: false });
    expect(one({ event: 'introspection', client_ip: '10.1.0.12' })).toMatchObject({
      outcome: 'refused',
      client_id: 'other',
      token_client_id: 'app',
      sub: 'joe',
      token_type: 'access_token',
      active: false,
    });
    // Introspecting one's own token is no audit fact.
    await postForm(`${env.gw.url}/as/introspect.oauth2`, `token=${access}`, from('10.1.0.13', basicAuth()));
    expect(fromIp('10.1.0.13')).toEqual([]);

    expect((await revoke('10.1.0.14', refresh, basicAuth())).status).toBe(200);
    expect(one({ event: 'revocation', client_ip: '10.1.0.14' })).toMatchObject({
      outcome: 'success',
      client_id: 'app',
      sub: 'joe',
      revoked: 'family',
      token_type: 'refresh_token',
    });
  });

  it('client authentication failures; an id that names no client (a secret in the wrong field) is not written', async () => {
    expect((await token('10.1.0.15', 'grant_type=password&username=joe&password=x', basicAuth('app', 'not-the-secret'))).status).toBe(401);
    expect(one({ event: 'client_auth', client_ip: '10.1.0.15' })).toMatchObject({
      outcome: 'failure',
      reason: 'invalid_credentials',
      client_id: 'app',
    });
    expect((await token('10.1.0.16', 'grant_type=password&username=joe&password=x', basicAuth(CLIENT.secret, 'x'))).status).toBe(401);
    const unknown = one({ event: 'client_auth', client_ip: '10.1.0.16' });
    expect(unknown).toMatchObject({ outcome: 'failure', reason: 'invalid_credentials' });
    expect(unknown.client_id).toBeUndefined();
    expect((await token('10.1.0.17', 'grant_type=password&username=joe&password=x', '')).status).toBe(401);
    expect(one({ event: 'client_auth', client_ip: '10.1.0.17' })).toMatchObject({ reason: 'missing_credentials' });

    // Failed client authentications use up the IP's budget too: one lockout event.
    for (let i = 0; i < 3; i++) await token('10.1.0.18', 'grant_type=client_credentials', basicAuth('app', `bad-${i}`));
    expect(fromIp('10.1.0.18').filter((e) => e.event === 'client_auth')).toHaveLength(3);
    expect(one({ event: 'lockout', client_ip: '10.1.0.18' })).toMatchObject({
      outcome: 'success',
      scope: 'ip',
      reason: 'client_auth_failures',
    });
  });

  it('a user the validator no longer knows: refresh revokes the family (family_revoked, subject_gone)', async () => {
    const login = await passwordGrant('10.1.0.19', 'joe', USERS.joe.password);
    secrets.push(login.json.access_token as string, login.json.refresh_token as string);
    await env.gw.reloadUsers([{ username: 'alice', passwordHash: await hashSecret(USERS.alice.password) }]);
    expect((await token('10.1.0.20', `grant_type=refresh_token&refresh_token=${login.json.refresh_token as string}`)).status).toBe(400);
    expect(one({ event: 'family_revoked', client_ip: '10.1.0.20' })).toMatchObject({
      outcome: 'success',
      reason: 'subject_gone',
      sub: 'joe',
      client_id: 'app',
      validator: 'local',
    });
  });

  it('unlock by the CLI, appended to the same file', async () => {
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } };
    expect(await lockoutCommand('unlock', ['--config', join(env.gw.dir, 'gateway.yaml'), '--username', 'ALICE'], io)).toBe(0);
    expect(one({ event: 'unlock' })).toMatchObject({ outcome: 'success', actor: 'cli', username_key: userKey('alice'), was_locked: true });
    expect((await passwordGrant('10.1.0.21', 'alice', USERS.alice.password)).status).toBe(200);
    expect(one({ event: 'login', client_ip: '10.1.0.21' })).toMatchObject({ outcome: 'success', sub: 'alice' });
  });

  it('config reload: success, and a build that fails', async () => {
    const config = loadConfig({ mode: 'production', file: join(env.gw.dir, 'gateway.yaml'), env: {} });
    await env.gw.gateway.reload(config);
    one({ event: 'config_reload', outcome: 'success' });
    const broken = { ...config, validators: config.validators.map((v) => ({ ...v, type: 'no-such-type' })) } as unknown as typeof config;
    await expect(env.gw.gateway.reload(broken)).rejects.toThrow();
    one({ event: 'config_reload', outcome: 'failure', reason: 'build_failed' });
  });

  it('every event has only documented fields, and none carries a password, secret, token or Authorization value', () => {
    const all = events();
    expect(all.length).toBeGreaterThan(20);
    for (const e of all) {
      expect(e.kind).toBe('audit');
      for (const field of Object.keys(e)) expect(FIELDS.has(field), field).toBe(true);
    }
    const text = readFileSync(auditFile, 'utf8');
    for (const secret of secrets) expect(text.includes(secret), secret).toBe(false);
    expect(text).not.toMatch(/Basic |Bearer /i);
    // The request log has no audit line when audit.destination is file.
    expect(env.gw.logs().some((l) => l.kind === 'audit')).toBe(false);
  });
});
