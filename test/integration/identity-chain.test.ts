/**
 * Scopes and identities mean what the configuration says (docs/validators.md, "The chain" and
 * "Scopes and groups"), across the real boundary: a real gateway, a real slapd, a users file
 * that also holds a directory user's name, a real Redis store and `revoke --subject`.
 *
 * - first-known (default): a wrong directory password for `joe`, who is also in the users file,
 *   must NOT log in from the file; only a name the directory does not know goes on to the file.
 * - `validatorChainMode: any`: PingFederate's behaviour, opt-in.
 * - `subjectPrefix: 'ldap:'`: the directory's joe is `ldap:joe` upstream and to revoke.
 * - groupScopes gates through every client and never widens one: a non-admin does not get
 *   `admin` from a client that lists it; an admin does not get it from a client that does not.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeCommand } from '../../src/cli/revoke.js';
import { hashSecret } from '../../src/security/password-hash.js';
import { PEOPLE, SERVICE, USERS } from '../fixtures/ldap/directory.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { basicAuth, postForm, startGateway, type TestGateway } from '../support/start-gateway.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { startSlapd, type SlapdProcess } from '../support/start-slapd.js';

const SECRET = 'chain-secret';
/** The file's joe: the same name as the directory's joe, another password, other groups. */
const FILE_JOE = { username: 'joe', password: 'file-joe-pw', groups: ['admins'] };
const FILE_ONLY = { username: 'svc-batch', password: 'svc-batch-pw', groups: ['robots'] };

let slapd: SlapdProcess;
let redis: RedisProcess;
let upstream: Upstream;
let gw: TestGateway;
let dir: string;
let configFile: string;
const keyPrefix = `chain${Date.now()}:`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ropc-chain-'));
  const usersFile = join(dir, 'users.yaml');
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, `${SECRET}\n`);
  writeFileSync(
    usersFile,
    stringify({
      users: await Promise.all(
        [FILE_JOE, FILE_ONLY].map(async (u) => ({ username: u.username, passwordHash: await hashSecret(u.password), groups: u.groups })),
      ),
    }),
  );
  [slapd, redis, upstream] = await Promise.all([startSlapd(), startRedis(), startEchoUpstream()]);
  const chain = ['directory', 'service-users'];
  const config = {
    store: { type: 'redis', redis: { url: redis.url, keyPrefix } },
    validators: [
      {
        name: 'directory',
        type: 'ldap',
        subjectPrefix: 'ldap:',
        urls: [slapd.url],
        bindDn: SERVICE.dn,
        bindPassword: SERVICE.password,
        userSearchBase: PEOPLE,
        groups: { memberOfAttribute: 'memberOf' },
        groupScopes: { admins: ['admin'] },
        timeoutMs: 1000,
        poolSize: 2,
      },
      // The file names no groupScopes: its group "admins" earns nothing; `admin` is gated by the directory's.
      { name: 'service-users', type: 'file', path: usersFile },
    ],
    clients: [
      { id: 'intranet', secretFile, scopes: ['read', 'admin'], defaultScopes: ['read'], validators: chain },
      { id: 'pingfed', secretFile, scopes: ['read', 'admin'], defaultScopes: ['read'], validators: chain, validatorChainMode: 'any' },
      { id: 'mobile', public: true, scopes: ['read'], defaultScopes: ['read'], validators: ['directory'] },
      { id: 'no-defaults', secretFile, scopes: ['read'], validators: chain },
    ],
  };
  gw = await startGateway({ upstream: upstream.url, config });
  configFile = join(dir, 'gateway.yaml');
  writeFileSync(configFile, stringify({ ...config, upstream: { url: upstream.url } }));
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([upstream?.close(), redis?.stop(), slapd?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function login(client: string, username: string, password: string, scope?: string) {
  const body = `grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(password)}${scope === undefined ? '' : `&scope=${encodeURIComponent(scope)}`}`;
  const headers = client === 'mobile' ? {} : { authorization: basicAuth(client, SECRET) };
  return postForm(gw.tokenUrl, client === 'mobile' ? `${body}&client_id=mobile` : body, headers);
}
async function upstreamSees(accessToken: string): Promise<{ status: number; headers: Record<string, string> }> {
  const res = await fetch(`${gw.url}/api/whoami`, { headers: { authorization: `Bearer ${accessToken}` } });
  const body = res.status === 200 ? ((await res.json()) as { headers: Record<string, string> }) : { headers: {} };
  return { status: res.status, headers: body.headers };
}

describe('first-known chain (the default)', () => {
  it('does NOT log in from the users file with a wrong directory password for a name the directory knows', async () => {
    const res = await login('intranet', 'joe', FILE_JOE.password);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_grant', error_description: 'authentication failed' });
  });

  it('logs the directory user in as ldap:joe, and a name only the file knows from the file', async () => {
    const directory = await login('intranet', 'joe', USERS.joe.password);
    expect(directory.status).toBe(200);
    expect((await upstreamSees(directory.json.access_token as string)).headers).toMatchObject({
      'x-auth-subject': 'ldap:joe',
      'x-auth-groups': 'editors',
    });
    const file = await login('intranet', FILE_ONLY.username, FILE_ONLY.password);
    expect(file.status).toBe(200);
    expect((await upstreamSees(file.json.access_token as string)).headers).toMatchObject({
      'x-auth-subject': 'svc-batch',
      'x-auth-groups': 'robots',
    });
  });
});

describe('validatorChainMode: any (PingFederate)', () => {
  it("tries the file after a wrong directory password: the file's joe, a different identity (sub joe, not ldap:joe)", async () => {
    const res = await login('pingfed', 'joe', FILE_JOE.password);
    expect(res.status).toBe(200);
    expect((await upstreamSees(res.json.access_token as string)).headers).toMatchObject({
      'x-auth-subject': 'joe',
      'x-auth-groups': 'admins',
    });
  });
});

describe('groupScopes gates, clients[].scopes is the ceiling', () => {
  it("refuses admin to a user outside the directory's admins, through a client that lists admin", async () => {
    const res = await login('intranet', 'joe', USERS.joe.password, 'read admin');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_scope', error_description: 'scope "admin" is not granted to this user' });
  });

  it("does not let another validator's group of the same name earn a gated scope", async () => {
    const res = await login('pingfed', 'joe', FILE_JOE.password, 'admin');
    expect(res.json).toEqual({ error: 'invalid_scope', error_description: 'scope "admin" is not granted to this user' });
  });

  it('grants admin to a member of admins', async () => {
    const res = await login('intranet', 'alice', USERS.alice.password, 'read admin');
    expect(res.status).toBe(200);
    expect((await upstreamSees(res.json.access_token as string)).headers).toMatchObject({
      'x-auth-subject': 'ldap:alice',
      'x-auth-scope': 'read admin',
    });
  });

  it('never widens a client: the public client with scopes [read] gives an admin no admin token', async () => {
    const asked = await login('mobile', 'alice', USERS.alice.password, 'admin');
    expect(asked.json).toEqual({ error: 'invalid_scope', error_description: 'scope "admin" is not allowed' });
    const plain = await login('mobile', 'alice', USERS.alice.password);
    expect(plain.status).toBe(200);
    expect(plain.json.scope).toBe('read');
    expect((await upstreamSees(plain.json.access_token as string)).headers['x-auth-scope']).toBe('read');
  });

  it('answers invalid_scope, not a token with scope "", when neither the request nor the client names a scope (RFC 6749 §3.3)', async () => {
    const res = await login('no-defaults', 'alice', USERS.alice.password);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_scope', error_description: 'no scope was requested and the client has no default scope' });
    expect((await login('no-defaults', 'alice', USERS.alice.password, 'read')).status).toBe(200);
  });
});

describe('revoke --subject with a prefixed subject', () => {
  it("revokes ldap:alice and leaves the file's users and unprefixed names alone", async () => {
    const alice = await login('intranet', 'alice', USERS.alice.password);
    const fileJoe = await login('pingfed', 'joe', FILE_JOE.password);
    const out: string[] = [];
    const io = { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => out.push(t) }, stdin: Readable.from([]) };
    expect(await revokeCommand(['--config', configFile, '--subject', 'alice'], io)).toBe(1);
    expect((await upstreamSees(alice.json.access_token as string)).status).toBe(200);
    expect(await revokeCommand(['--config', configFile, '--subject', 'ldap:alice'], io)).toBe(0);
    expect(out.at(-1)).toMatch(/^revoked \d+ token famil(y|ies) of subject "ldap:alice"\n$/);
    expect((await upstreamSees(alice.json.access_token as string)).status).toBe(401);
    expect((await upstreamSees(fileJoe.json.access_token as string)).status).toBe(200);
  });

  it('re-checks a prefixed subject at refresh without the prefix', async () => {
    const first = await login('intranet', 'joe', USERS.joe.password);
    const res = await postForm(gw.tokenUrl, `grant_type=refresh_token&refresh_token=${first.json.refresh_token as string}`, {
      authorization: basicAuth('intranet', SECRET),
    });
    expect(res.status).toBe(200);
  });
});
