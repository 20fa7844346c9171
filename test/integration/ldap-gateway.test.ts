/**
 * End to end: a real gateway whose client `app` has the chain [directory (LDAP, a real slapd),
 * service-users (a users file)], a real echo upstream, real HTTP clients.
 *
 * Covers docs/security.md and docs/validators.md across the boundary: groups reach the upstream, groupScopes grant a
 * scope to members only, an outage answers 503 with Retry-After and never falls through to the
 * file or counts as a failed login, /readyz stays 200 and reports the directory down, the
 * gateway recovers without a restart, and a user deleted from the directory cannot refresh.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/security/password-hash.js';
import { DISABLED_FILTER, PEOPLE, SERVICE, USERS } from '../fixtures/ldap/directory.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { basicAuth, postForm, startGateway, type TestGateway } from '../support/start-gateway.js';
import { startSlapd, type SlapdProcess } from '../support/start-slapd.js';

const SECRET = 'ldap-e2e-secret';
const SERVICE_USER = { username: 'svc-report', password: 'svc-report-pw' };

let slapd: SlapdProcess;
let upstream: Upstream;
let gw: TestGateway;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ropc-ldap-e2e-'));
  const bindPasswordFile = join(dir, 'ldap-bind');
  const clientSecretFile = join(dir, 'app-secret');
  const usersFile = join(dir, 'service-users.yaml');
  writeFileSync(bindPasswordFile, `${SERVICE.password}\n`);
  writeFileSync(clientSecretFile, `${SECRET}\n`);
  writeFileSync(
    usersFile,
    stringify({ users: [{ username: SERVICE_USER.username, passwordHash: await hashSecret(SERVICE_USER.password), groups: ['robots'] }] }),
  );
  [slapd, upstream] = await Promise.all([startSlapd(), startEchoUpstream()]);
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      validators: [
        {
          name: 'directory',
          type: 'ldap',
          urls: [slapd.url],
          bindDn: SERVICE.dn,
          bindPasswordFile,
          userSearchBase: PEOPLE,
          userSearchFilter: '(uid={username})',
          attributes: { email: 'mail' },
          groups: { memberOfAttribute: 'memberOf' },
          groupScopes: { admins: ['admin'] },
          disabledFilter: DISABLED_FILTER,
          timeoutMs: 1000,
          poolSize: 2,
        },
        { name: 'service-users', type: 'file', path: usersFile },
      ],
      clients: [
        {
          id: 'app',
          secretFile: clientSecretFile,
          scopes: ['read', 'edit', 'admin'],
          defaultScopes: ['read'],
          validators: ['directory', 'service-users'],
        },
      ],
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  await slapd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: basicAuth('app', SECRET) };
const token = (body: string) => postForm(gw.tokenUrl, body, auth);
const login = (username: string, password: string, scope?: string) =>
  token(
    `grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(password)}${scope ? `&scope=${encodeURIComponent(scope)}` : ''}`,
  );
const refresh = (refreshToken: string) => token(`grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshToken)}`);
async function upstreamSees(accessToken: string): Promise<{ status: number; headers: Record<string, string> }> {
  const res = await fetch(`${gw.url}/api/whoami`, { headers: { authorization: `Bearer ${accessToken}` } });
  const body = res.status === 200 ? ((await res.json()) as { headers: Record<string, string> }) : { headers: {} };
  return { status: res.status, headers: body.headers };
}
async function readiness(): Promise<{ status: number; body: { validators: { name: string; status: string; detail?: string }[] } }> {
  const res = await fetch(`${gw.adminUrl}/readyz?verbose`);
  return { status: res.status, body: (await res.json()) as { validators: { name: string; status: string }[] } };
}

describe('password grant with an LDAP validator', () => {
  it('issues tokens whose groups reach the upstream as X-Auth-Groups', async () => {
    const res = await login('alice', USERS.alice.password, 'read admin');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ token_type: 'Bearer', expires_in: 14400 });
    const seen = await upstreamSees(res.json.access_token as string);
    expect(seen.status).toBe(200);
    expect(seen.headers).toMatchObject({
      'x-auth-subject': 'alice',
      'x-auth-groups': 'admins,editors',
      'x-auth-scope': 'read admin',
      'x-auth-client-id': 'app',
    });
  });

  it('grants a groupScopes scope to members only, though the client lists it: a non-member asking for it gets invalid_scope', async () => {
    const res = await login('joe', USERS.joe.password, 'admin');
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_scope');
    expect((await login('joe', USERS.joe.password, 'read edit')).status).toBe(200);
  });

  it('answers a wrong password, an unknown, ambiguous or disabled user and filter injection with the same invalid_grant bytes', async () => {
    const answers = await Promise.all([
      login('alice', 'wrong'),
      login('no-such-user', 'whatever'),
      login('twin', 'twin-pw'),
      login('dora', USERS.dora.password),
      // Filter injection: each is searched for literally.
      login('*', USERS.alice.password),
      login('ali*', USERS.alice.password),
      login('alice)(uid=*', USERS.alice.password),
      login('*)(|(uid=*', '*'),
    ]);
    for (const a of answers) expect(a.status).toBe(400);
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(answers[0]!.json.error).toBe('invalid_grant');
  });

  it('falls through to the next validator when the directory does not know the user (the chain)', async () => {
    const res = await login(SERVICE_USER.username, SERVICE_USER.password);
    expect(res.status).toBe(200);
    expect((await upstreamSees(res.json.access_token as string)).headers).toMatchObject({
      'x-auth-subject': 'svc-report',
      'x-auth-groups': 'robots',
    });
  });

  it('reports the directory up in /readyz', async () => {
    const ready = await readiness();
    expect(ready.status).toBe(200);
    expect(ready.body.validators).toEqual([
      expect.objectContaining({ name: 'directory', type: 'ldap', status: 'up' }),
      expect.objectContaining({ name: 'service-users', type: 'file', status: 'up' }),
    ]);
  });
});

describe('a directory outage', () => {
  it('answers 503 with Retry-After, does not fall through, keeps the pod ready, and recovers without a restart', async () => {
    const before = await login('alice', USERS.alice.password);
    expect(before.status).toBe(200);
    const accessToken = before.json.access_token as string;
    const refreshToken = before.json.refresh_token as string;

    await slapd.halt();
    try {
      // More attempts than a lockout allows: an outage is never a failed login.
      for (let i = 0; i < 7; i++) {
        const res = await login('alice', USERS.alice.password);
        expect(res.status).toBe(503);
        expect(res.json).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(res.headers.get('cache-control')).toBe('no-store');
      }
      // No fall through to the file validator during the outage, even for its own users.
      expect((await login(SERVICE_USER.username, SERVICE_USER.password)).status).toBe(503);
      // A refresh needs the re-check: 503 too, and the refresh token survives it.
      expect((await refresh(refreshToken)).status).toBe(503);
      // Tokens already issued keep working on the resource path.
      expect((await upstreamSees(accessToken)).status).toBe(200);

      const ready = await readiness();
      expect(ready.status).toBe(200);
      expect(ready.body.validators[0]).toMatchObject({ name: 'directory', status: 'down', detail: expect.stringMatching(/ECONNREFUSED/) });
      expect(ready.body.validators[1]).toMatchObject({ name: 'service-users', status: 'up' });
    } finally {
      await slapd.restart();
    }

    // The first answer after the directory is back is a success: no lockout was counted.
    const after = await login('alice', USERS.alice.password);
    expect(after.status).toBe(200);
    expect((await refresh(refreshToken)).status).toBe(200);
    expect((await readiness()).body.validators[0]).toMatchObject({ name: 'directory', status: 'up' });
    // Nothing logged the password.
    expect(gw.logText()).not.toContain(USERS.alice.password);
  });

  it('answers 503 within about the timeout when the directory hangs (SIGSTOP)', async () => {
    await slapd.pause();
    try {
      const started = Date.now();
      const res = await login('alice', USERS.alice.password);
      expect(res.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2000);
      // /readyz does not wait for the hung directory longer than a probe would.
      const probe = Date.now();
      const ready = await readiness();
      expect(ready.status).toBe(200);
      expect(ready.body.validators[0]).toMatchObject({ name: 'directory', status: 'down' });
      expect(Date.now() - probe).toBeLessThan(1500);
      // The scrape runs the same health check: the directory reads down, the store up.
      const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/^ropc_validator_up\{validator="directory"\} 0$/m);
      expect(metrics).toMatch(/^ropc_store_up 1$/m);
    } finally {
      slapd.resume();
    }
    expect((await login('alice', USERS.alice.password)).status).toBe(200);
    expect(await (await fetch(`${gw.adminUrl}/metrics`)).text()).toMatch(/^ropc_validator_up\{validator="directory"\} 1$/m);
  });
});

describe('refresh re-checks the directory', () => {
  it('refuses a refresh once the user is deleted, and revokes the family', async () => {
    const first = await login('joe', USERS.joe.password);
    expect(first.status).toBe(200);
    const rotated = await refresh(first.json.refresh_token as string);
    expect(rotated.status).toBe(200);

    await slapd.deleteEntry(USERS.joe.dn);
    const refused = await refresh(rotated.json.refresh_token as string);
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe('invalid_grant');
    // The family is revoked: its access token no longer passes the resource path.
    expect((await upstreamSees(rotated.json.access_token as string)).status).toBe(401);
    expect((await login('joe', USERS.joe.password)).json.error).toBe('invalid_grant');
  });

  it('refuses a refresh once the user matches disabledFilter', async () => {
    const first = await login('jürgen', USERS.jurgen.password);
    expect(first.status).toBe(200);
    await slapd.modify(`dn: ${USERS.jurgen.dn}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n`);
    const refused = await refresh(first.json.refresh_token as string);
    expect(refused.json.error).toBe('invalid_grant');
  });
});
