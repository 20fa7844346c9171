/**
 * End to end with Active Directory: a real gateway whose client `app` logs in against a real
 * Samba AD domain controller (test/support/start-samba.ts) through `directory:
 * active-directory`. The three login spellings reach the upstream as one subject and share
 * one lockout counter: the gateway locks `alice` after failures spread over `alice`,
 * `ROPC\alice` and `ALICE` — before the domain's own threshold, so the lock is the gateway's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DN, DNS_DOMAIN, INNER_GROUP, LOCKOUT_THRESHOLD, NETBIOS_DOMAIN, OUTER_GROUP, SERVICE, USERS } from '../fixtures/ad/directory.js';
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
        validators: [
          {
            name: 'corp',
            type: 'ldap',
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
        ],
        clients: [{ id: 'app', secretFile: clientSecretFile, scopes: ['read', 'admin'], defaultScopes: ['read', 'admin'], validators: ['corp'] }],
      },
    });
  }, 180_000);

  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
    await samba?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const login = (username: string, password: string) =>
    postForm(`${gw.url}/as/token.oauth2`, `grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(password)}`, {
      authorization: basicAuth('app', SECRET),
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
