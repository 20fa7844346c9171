/**
 * Directory states on a real slapd with the password policy overlay (test/support/start-slapd.ts
 * `ppolicy`, the users of test/fixtures/ldap/ppolicy.ts) through a real gateway over HTTP:
 * client `app` uses the validator `revealing` (reveal: after-correct-password), client `other`
 * the validator `silent` (reveal: none), both on the same directory.
 *
 * Each state is produced by slapd for real; each refusal's answer is asserted byte for byte,
 * including the answers that must equal a wrong password's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PEOPLE, SERVICE } from '../fixtures/ldap/directory.js';
import { POLICY, PP_USERS, SOON_SECONDS } from '../fixtures/ldap/ppolicy.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { basicAuth, CLIENT, postForm, startGateway, type TestGateway } from '../support/start-gateway.js';
import { startSlapd, type SlapdProcess } from '../support/start-slapd.js';

let slapd: SlapdProcess;
let upstream: Upstream;
let gw: TestGateway;

const WRONG = '{"error":"invalid_grant","error_description":"authentication failed"}';
const answer = (description: string, reason: string): string =>
  JSON.stringify({ error: 'invalid_grant', error_description: description, reason });

beforeAll(async () => {
  [slapd, upstream] = await Promise.all([startSlapd({ ppolicy: true, logStats: true }), startEchoUpstream()]);
  const ldap = (name: string, reveal: string) => ({
    name,
    type: 'ldap',
    urls: [slapd.url],
    bindDn: SERVICE.dn,
    bindPassword: SERVICE.password,
    userSearchBase: PEOPLE,
    userSearchFilter: '(uid={username})',
    attributes: { email: 'mail' },
    timeoutMs: 2000,
    poolSize: 2,
    reveal,
    passwordChangeWithoutTls: true,
  });
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      validators: [ldap('revealing', 'after-correct-password'), ldap('silent', 'none')],
      clients: [
        {
          id: CLIENT.id,
          secret: undefined,
          secretHash: await hashOf(),
          scopes: ['read'],
          defaultScopes: ['read'],
          validators: ['revealing'],
        },
        { id: 'other', secretHash: await hashOf(), scopes: ['read'], defaultScopes: ['read'], validators: ['silent'] },
      ],
      lockout: { maxFailures: 3, directoryLockSeconds: 600 },
      passwordChange: { enabled: true },
      headers: {
        identity: {
          'X-Auth-Subject': 'sub',
          'X-Auth-Password-Expires-At': 'attributes.password_expires_at',
          'X-Auth-Grace-Logins': 'attributes.password_grace_logins_remaining',
        },
      },
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  await slapd?.stop();
});

async function hashOf(): Promise<string> {
  const { hashSecret } = await import('../../src/security/password-hash.js');
  return hashSecret(CLIENT.secret);
}

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
const login = (client: string, username: string, password: string) =>
  postForm(gw.tokenUrl, form({ grant_type: 'password', username, password }), { authorization: basicAuth(client, CLIENT.secret) });
const change = (client: string, username: string, password: string, newPassword: string) =>
  postForm(`${gw.url}/as/password.oauth2`, form({ username, password, new_password: newPassword }), {
    authorization: basicAuth(client, CLIENT.secret),
  });
/** The refusal as the client sees it: status, the headers that matter, the body's bytes. */
const shape = (r: { status: number; headers: Headers; text: string }) => ({
  status: r.status,
  type: r.headers.get('content-type'),
  cache: r.headers.get('cache-control'),
  body: r.text,
});
const refused = (body: string) => ({ status: 400, type: 'application/json;charset=UTF-8', cache: 'no-store', body });
const upstreamSees = async (accessToken: string): Promise<Record<string, string>> => {
  const res = await fetch(`${gw.url}/api/whoami`, { headers: { authorization: `Bearer ${accessToken}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { headers: Record<string, string> }).headers;
};

describe('directory states over HTTP (slapd with ppolicy)', () => {
  it('an expired password (no grace): the state after the right password when revealed, the wrong-password answer otherwise', async () => {
    const { expired } = PP_USERS;
    expect(shape(await login('app', expired.uid, expired.password))).toStrictEqual(
      refused(answer('the password has expired', 'password_expired')),
    );
    expect(shape(await login('other', expired.uid, expired.password))).toStrictEqual(refused(WRONG));
    // slapd sends passwordExpired only once the password matched: a wrong one is just wrong.
    expect(shape(await login('app', expired.uid, 'not-the-password'))).toStrictEqual(refused(WRONG));
  });

  it('pwdReset TRUE: the bind succeeds with changeAfterReset, so no token, and the state only when revealed', async () => {
    const { reset } = PP_USERS;
    expect(shape(await login('app', reset.uid, reset.password))).toStrictEqual(
      refused(answer('the password must be changed', 'password_change_required')),
    );
    expect(shape(await login('other', reset.uid, reset.password))).toStrictEqual(refused(WRONG));
    expect(shape(await login('app', reset.uid, 'not-the-password'))).toStrictEqual(refused(WRONG));
  });

  it('a locked account (pwdAccountLockedTime) answers as a wrong password even to the right one, and even when revealing', async () => {
    const { locked } = PP_USERS;
    const binds = slapd.bindCount(locked.dn);
    expect(shape(await login('app', locked.uid, locked.password))).toStrictEqual(refused(WRONG));
    expect(slapd.bindCount(locked.dn)).toBe(binds + 1);
    // Remembered: the directory is not asked again while the memo lasts, right or wrong password.
    for (const password of [locked.password, 'wrong-1', 'wrong-2', 'wrong-3', locked.password]) {
      expect(shape(await login('app', locked.uid, password))).toStrictEqual(refused(WRONG));
    }
    expect(slapd.bindCount(locked.dn)).toBe(binds + 1);
    expect(shape(await login('other', locked.uid, 'wrong'))).toStrictEqual(refused(WRONG));
  });

  it("a directory lock never counts in the gateway's lockout: its audit events say directory_locked and no lockout follows", () => {
    const events = gw.logs().filter((l) => l['kind'] === 'audit' && l['event'] === 'login' && l['client_id'] === 'app');
    const key = events.find((e) => e['reason'] === 'directory_locked')?.['username_key'];
    expect(key).toBeDefined();
    const mine = events.filter((e) => e['username_key'] === key);
    // The first refusal asked the directory; the five after it were refused from the memo.
    expect(mine.map((e) => [e['outcome'], e['reason'], e['state']])).toStrictEqual([
      ['failure', 'directory_locked', 'account_locked'],
      ...Array<unknown>(5).fill(['refused', 'directory_locked', 'account_locked']),
    ]);
    // Six refusals and maxFailures 3: counted, the gateway would have locked the user.
    expect(gw.logs().filter((l) => l['kind'] === 'audit' && l['event'] === 'lockout' && l['username_key'] === key)).toStrictEqual([]);
  });

  it('the same bytes for a wrong password, an unknown user, a locked one and a proven state under reveal none', async () => {
    const answers = await Promise.all([
      login('app', PP_USERS.fresh2.uid, 'wrong'),
      login('app', 'pp-nobody', 'whatever'),
      login('other', PP_USERS.fresh2.uid, 'wrong'),
      login('other', 'pp-nobody', 'whatever'),
      login('other', PP_USERS.expired.uid, PP_USERS.expired.password),
    ]);
    for (const a of answers) expect(shape(a)).toStrictEqual(refused(WRONG));
  });

  it('a proven state is not counted where it is revealed, and counted as the wrong password it is answered as where not', () => {
    const audit = gw.logs().filter((l) => l['kind'] === 'audit');
    const key = audit.find((e) => e['event'] === 'login' && e['state'] === 'password_expired' && e['client_id'] === 'app')?.[
      'username_key'
    ];
    const mine = audit.filter((e) => e['username_key'] === key);
    expect(mine.map((e) => [e['event'], e['client_id'], e['reason'], e['state'], e['password_verified']])).toStrictEqual([
      ['login', 'app', 'directory_state', 'password_expired', true],
      ['login', 'other', 'invalid_password', 'password_expired', true],
      ['login', 'app', 'invalid_password', undefined, undefined],
      ['login', 'other', 'invalid_password', 'password_expired', true],
      // maxFailures 3: the three counted ones lock the user (the released one did not count).
      ['lockout', 'other', 'failures', undefined, undefined],
    ]);
  });

  it('expired with grace logins: tokens, the logins left in the response and in an identity header when revealed', async () => {
    const { graced } = PP_USERS;
    const first = await login('app', graced.uid, graced.password);
    expect(first.status).toBe(200);
    expect(first.json.password_grace_logins_remaining).toBe(POLICY.graceLogins - 1);
    expect(first.json).not.toHaveProperty('password_expires_in');
    expect((await upstreamSees(first.json.access_token as string))['x-auth-grace-logins']).toBe(String(POLICY.graceLogins - 1));
    const second = await login('other', graced.uid, graced.password);
    expect(second.status).toBe(200);
    expect(Object.keys(second.json).filter((k) => k.startsWith('password_'))).toStrictEqual([]);
    // The grace logins are used up: now slapd refuses passwordExpired.
    expect(shape(await login('app', graced.uid, graced.password))).toStrictEqual(
      refused(answer('the password has expired', 'password_expired')),
    );
  });

  it('expiring soon: the seconds left in the response and the expiry time in an identity header when revealed', async () => {
    const { soon } = PP_USERS;
    const before = Math.floor(Date.now() / 1000);
    const res = await login('app', soon.uid, soon.password);
    expect(res.status).toBe(200);
    const left = res.json.password_expires_in as number;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(SOON_SECONDS);
    const at = Number((await upstreamSees(res.json.access_token as string))['x-auth-password-expires-at']);
    expect(at).toBeGreaterThanOrEqual(before + left);
    const silent = await login('other', soon.uid, soon.password);
    expect(silent.status).toBe(200);
    expect(silent.json).not.toHaveProperty('password_expires_in');
    expect(await upstreamSees(silent.json.access_token as string)).not.toHaveProperty('x-auth-password-expires-at');
  });
});

describe('the password change endpoint against slapd', () => {
  it('changes a password (RFC 3062 as the user): the new one logs in, the old one no longer', async () => {
    const { fresh } = PP_USERS;
    const res = await change('app', fresh.uid, fresh.password, 'brand-new-pw-1');
    expect({ status: res.status, body: res.text }).toStrictEqual({ status: 200, body: '{"password_changed":true}' });
    expect((await login('app', fresh.uid, 'brand-new-pw-1')).status).toBe(200);
    expect(shape(await login('app', fresh.uid, fresh.password))).toStrictEqual(refused(WRONG));
  });

  it('reports a too short and a reused new password with their reason', async () => {
    const { fresh } = PP_USERS;
    const short = await change('app', fresh.uid, 'brand-new-pw-1', 'short');
    expect({ status: short.status, body: short.text }).toStrictEqual({
      status: 400,
      body: '{"error":"invalid_request","error_description":"the new password is too short","reason":"too_short"}',
    });
    // pwdInHistory: the password it had before the change above.
    const reused = await change('app', fresh.uid, 'brand-new-pw-1', fresh.password);
    expect({ status: reused.status, body: reused.text }).toStrictEqual({
      status: 400,
      body: '{"error":"invalid_request","error_description":"the new password was used before","reason":"in_history"}',
    });
    expect((await login('app', fresh.uid, 'brand-new-pw-1')).status).toBe(200);
  });

  it('lets a pwdReset user change the password, after which it logs in', async () => {
    const { reset } = PP_USERS;
    const res = await change('app', reset.uid, reset.password, 'reset-done-pw-1');
    expect(res.status).toBe(200);
    expect((await login('app', reset.uid, 'reset-done-pw-1')).status).toBe(200);
  });

  it('answers a wrong old password as the token endpoint does, and counts it in the lockout', async () => {
    const { fresh2 } = PP_USERS;
    const wrong = await change('other', fresh2.uid, 'wrong-old', 'whatever-new-1');
    expect(shape(wrong)).toStrictEqual(refused(WRONG));
    expect(shape(await change('other', 'pp-nobody', 'wrong-old', 'whatever-new-1'))).toStrictEqual(refused(WRONG));
    // maxFailures 3: the two wrong logins of the "same bytes" test and this one lock the user.
    expect(shape(await change('other', fresh2.uid, 'wrong-again', 'whatever-new-1'))).toStrictEqual(refused(WRONG));
    // Locked by the gateway now: the right password is refused, on both endpoints, and the directory not asked.
    const binds = slapd.bindCount(fresh2.dn);
    expect(shape(await login('other', fresh2.uid, fresh2.password))).toStrictEqual(refused(WRONG));
    expect(shape(await change('other', fresh2.uid, fresh2.password, 'whatever-new-1'))).toStrictEqual(refused(WRONG));
    expect(slapd.bindCount(fresh2.dn)).toBe(binds);
  });

  it('writes neither password to the log', () => {
    const text = gw.logText();
    for (const secret of ['brand-new-pw-1', 'reset-done-pw-1', 'wrong-old', PP_USERS.fresh.password, PP_USERS.reset.password])
      expect(text).not.toContain(secret);
  });
});
