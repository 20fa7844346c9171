/**
 * End to end with Active Directory: a real gateway whose client `app` logs in against a real
 * Samba AD domain controller (test/support/start-samba.ts) through `directory:
 * active-directory`. The three login spellings reach the upstream as one subject and share
 * one lockout counter: the gateway locks `alice` after failures spread over `alice`,
 * `ROPC\alice` and `ALICE` — before the domain's own threshold, so the lock is the gateway's.
 * Each account state Samba produces reaches the client byte for byte: its reason under
 * `reveal: after-correct-password`, the wrong-password answer under `reveal: none` and for a
 * wrong password; and the password change endpoint changes an AD password (unicodePwd).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE_DN,
  DNS_DOMAIN,
  INNER_GROUP,
  LOCKOUT_THRESHOLD,
  MIN_PASSWORD_LENGTH,
  NETBIOS_DOMAIN,
  OUTER_GROUP,
  SERVICE,
  USERS,
} from '../fixtures/ad/directory.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { sambaSkipReason, startSamba, type SambaProcess } from '../support/start-samba.js';
import { basicAuth, postForm, startGateway, type TestGateway } from '../support/start-gateway.js';

const skip = sambaSkipReason();
if (skip) console.warn(skip);

const SECRET = 'ad-e2e-secret';
/** The gateway locks after this many failures: fewer than the domain's LOCKOUT_THRESHOLD. */
const MAX_FAILURES = 2;
const WRONG = '{"error":"invalid_grant","error_description":"authentication failed"}';

describe.skipIf(skip !== undefined)('gateway with an Active Directory validator (Samba AD)', () => {
  let samba: SambaProcess;
  let upstream: Upstream;
  let gw: TestGateway;
  let dir: string;

  beforeAll(async () => {
    expect(MAX_FAILURES).toBeLessThan(LOCKOUT_THRESHOLD);
    dir = mkdtempSync(join(tmpdir(), 'ropc-ad-e2e-'));
    const bindPasswordFile = join(dir, 'ad-bind');
    const clientSecretFile = join(dir, 'app-secret');
    writeFileSync(bindPasswordFile, `${SERVICE.password}\n`);
    writeFileSync(clientSecretFile, `${SECRET}\n`);
    [samba, upstream] = await Promise.all([startSamba(), startEchoUpstream()]);
    gw = await startGateway({
      upstream: upstream.url,
      config: {
        lockout: { maxFailures: MAX_FAILURES, lockSeconds: 600, maxLockSeconds: 600 },
        passwordChange: { enabled: true },
        validators: [
          {
            name: 'corp',
            type: 'ldap',
            reveal: 'after-correct-password',
            directory: 'active-directory',
            activeDirectory: { domain: DNS_DOMAIN, netbiosDomain: NETBIOS_DOMAIN },
            urls: [samba.ldapsUrl],
            tlsCaFile: samba.caFile,
            bindDn: SERVICE.upn,
            bindPasswordFile,
            userSearchBase: BASE_DN,
            groups: { searchBase: BASE_DN, nested: true },
            groupScopes: { [OUTER_GROUP]: ['admin'] },
            timeoutMs: 5000,
            poolSize: 2,
          },
          {
            name: 'corp-silent',
            type: 'ldap',
            reveal: 'none',
            directory: 'active-directory',
            activeDirectory: { domain: DNS_DOMAIN, netbiosDomain: NETBIOS_DOMAIN },
            urls: [samba.ldapsUrl],
            tlsCaFile: samba.caFile,
            bindDn: SERVICE.upn,
            bindPasswordFile,
            userSearchBase: BASE_DN,
            timeoutMs: 5000,
            poolSize: 1,
          },
        ],
        clients: [
          { id: 'app', secretFile: clientSecretFile, scopes: ['read', 'admin'], defaultScopes: ['read', 'admin'], validators: ['corp'] },
          { id: 'silent', secretFile: clientSecretFile, scopes: ['read'], defaultScopes: ['read'], validators: ['corp-silent'] },
        ],
      },
    });
  }, 180_000);

  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
    await samba?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const login = (username: string, password: string, client = 'app') =>
    postForm(gw.tokenUrl, `grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(password)}`, {
      authorization: basicAuth(client, SECRET),
    });
  const change = (username: string, password: string, newPassword: string) =>
    postForm(`${gw.url}/as/password.oauth2`, new URLSearchParams({ username, password, new_password: newPassword }).toString(), {
      authorization: basicAuth('app', SECRET),
    });
  /** The refusal as the client sees it: status, the headers that matter, the body's bytes. */
  const shape = (r: { status: number; headers: Headers; text: string }) => ({
    status: r.status,
    type: r.headers.get('content-type'),
    cache: r.headers.get('cache-control'),
    body: r.text,
  });
  const refused = (body: string) => ({ status: 400, type: 'application/json;charset=UTF-8', cache: 'no-store', body });
  const stateAnswer = (description: string, reason: string) =>
    JSON.stringify({ error: 'invalid_grant', error_description: description, reason });

  // Each user's state, produced for real by Samba (test/fixtures/ad/directory.ts), and its answer.
  const STATES = [
    ['bob', 'the account is disabled', 'account_disabled'],
    ['carol', 'the account has expired', 'account_expired'],
    ['dave', 'the password must be changed', 'password_change_required'],
    ['frank', 'logins are not allowed at this time', 'outside_logon_hours'],
    ['gina', 'logins are not allowed from this workstation', 'workstation_not_allowed'],
    ['hank', 'the password has expired', 'password_expired'],
  ] as const;

  for (const [name, description, reason] of STATES) {
    it(`${name}: ${reason} after the right password when revealed; the wrong-password answer otherwise`, async () => {
      const user = USERS[name];
      // Revealing first: under reveal none a proven state counts as the failure it is answered as.
      expect(shape(await login(user.sam, user.password))).toStrictEqual(refused(stateAnswer(description, reason)));
      expect(shape(await login(user.sam, user.password, 'silent'))).toStrictEqual(refused(WRONG));
      expect(shape(await login(user.sam, 'Wrong-Passw0rd!'))).toStrictEqual(refused(WRONG));
    });
  }

  it('an unknown user and a wrong password get the same bytes', async () => {
    expect(shape(await login('nobody-here', 'Wrong-Passw0rd!'))).toStrictEqual(refused(WRONG));
    expect(shape(await login(`nobody@${DNS_DOMAIN}`, 'Wrong-Passw0rd!', 'silent'))).toStrictEqual(refused(WRONG));
  });

  it('changes an AD password through the endpoint (unicodePwd over LDAPS); a too short one is refused with its reason', async () => {
    const { pat } = USERS;
    const short = await change(pat.sam, pat.password, 'x'.repeat(MIN_PASSWORD_LENGTH - 1));
    expect({ status: short.status, body: short.text }).toStrictEqual({
      status: 400,
      body: '{"error":"invalid_request","error_description":"the new password is too short","reason":"too_short"}',
    });
    const next = 'Pat-N3w-Passw0rd!';
    const res = await change(`${NETBIOS_DOMAIN}\\${pat.sam}`, pat.password, next);
    expect({ status: res.status, body: res.text }).toStrictEqual({ status: 200, body: '{"password_changed":true}' });
    expect((await login(pat.sam, next)).status).toBe(200);
    expect(shape(await login(pat.sam, pat.password))).toStrictEqual(refused(WRONG));
  });

  it('logs in by each spelling as one subject, with the scope of a nested group', async () => {
    for (const username of ['alice', `${NETBIOS_DOMAIN}\\alice`, `alice@${DNS_DOMAIN}`]) {
      const res = await login(username, USERS.alice.password);
      expect(res.status, username).toBe(200);
      const body = res.json as { access_token: string; scope: string };
      expect(body.scope.split(' ').sort()).toEqual(['admin', 'read']);
      const seen = await fetch(`${gw.url}/api/whoami`, { headers: { authorization: `Bearer ${body.access_token}` } });
      const { headers } = (await seen.json()) as { headers: Record<string, string> };
      expect(headers['x-auth-subject']).toBe('alice');
      expect(headers['x-auth-groups']?.split(',').sort()).toEqual([INNER_GROUP, OUTER_GROUP].sort());
    }
  });

  it('counts failures of every spelling against one lockout counter', async () => {
    expect(await login('alice', 'Wrong-Passw0rd!')).toMatchObject({ status: 400, text: WRONG });
    expect(await login(`${NETBIOS_DOMAIN}\\ALICE`, 'Wrong-Passw0rd!')).toMatchObject({ status: 400, text: WRONG });
    // Locked by the gateway now: the right password, in a third spelling, is refused.
    expect(await login(`alice@${DNS_DOMAIN}`, USERS.alice.password)).toMatchObject({ status: 400, text: WRONG });
    // The domain saw two wrong binds, under its threshold: alice is not locked there.
    expect(await unlockedInDomain(samba, USERS.alice.sam)).toBe(true);
  });
});

/** Whether the domain has not locked the account (no lockoutTime set). */
async function unlockedInDomain(samba: SambaProcess, sam: string): Promise<boolean> {
  const found = await samba.search(`(&(sAMAccountName=${sam})(!(lockoutTime>=1)))`, ['sAMAccountName']);
  return new RegExp(`^sAMAccountName: ${sam}$`, 'm').test(found);
}
