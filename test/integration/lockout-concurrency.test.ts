/**
 * Brute-force protection under real concurrency (docs/security.md): hundreds of parallel
 * guesses spread over TWO gateways — one in this process, one the real CLI in a child process
 * (compiled from this tree here, into .tmp/) — sharing one real redis-server, with an LDAP validator on a
 * real slapd. What reached the directory is counted by slapd itself: it runs with `-d stats`
 * and the test counts the BIND lines of user DNs in its log, not anything inside the gateway.
 *
 * With check-then-act counters every one of these guesses reached the directory; with the
 * reservation (lockout.ts) at most `maxFailures` per user and at most the IP budget per IP do.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PEOPLE, SERVICE, USERS as LDAP_USERS } from '../fixtures/ldap/directory.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { basicAuth, postForm, startGateway, type TestGateway } from '../support/start-gateway.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { startSlapd, type SlapdProcess } from '../support/start-slapd.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'concurrency-secret';
const MAX_FAILURES = 5;
const IP_BUDGET = 100;

let redis: RedisProcess;
let slapd: SlapdProcess;
let upstream: Upstream;
let a: TestGateway;
let replica: ChildProcess;
let replicaOut = '';
let bUrl = '';
let dir: string;
let build: string;

beforeAll(async () => {
  // The replica runs the CLI compiled from this tree, into a private directory under .tmp/ (so
  // node_modules resolves, and a dist/ another test runs from is never rewritten under it).
  mkdirSync('.tmp', { recursive: true });
  build = mkdtempSync(join('.tmp', 'lockout-race-'));
  const compiled = spawnSync(
    process.execPath,
    ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', join(build, 'dist')],
    { encoding: 'utf8' },
  );
  if (compiled.status !== 0) throw new Error(`build failed: ${compiled.stdout}${compiled.stderr}`);
  writeFileSync(
    join(build, 'cli.mjs'),
    "import { main } from './dist/main.js';\nmain(process.argv.slice(2)).then((code) => { if (typeof code === 'number') process.exitCode = code; });\n",
  );
  dir = mkdtempSync(join(tmpdir(), 'ropc-race-'));
  const bindPasswordFile = join(dir, 'ldap-bind');
  const clientSecretFile = join(dir, 'app-secret');
  writeFileSync(bindPasswordFile, `${SERVICE.password}\n`);
  // A plain client secret: the test is about user logins, not argon2id of the client.
  writeFileSync(clientSecretFile, `${SECRET}\n`);
  [redis, slapd, upstream] = await Promise.all([startRedis(), startSlapd({ logStats: true }), startEchoUpstream()]);
  a = await startGateway({
    upstream: upstream.url,
    redisUrl: redis.url,
    config: {
      server: { trustProxy: true },
      // A remembered client success is never refused for its IP's budget (clients.ts); the one
      // test that needs it warms it right before its burst, and it must outlive any test.
      oauth: { clientAuthCacheSeconds: 3600 },
      store: { redis: { commandTimeoutMs: 5000 } },
      lockout: { maxFailures: MAX_FAILURES, lockSeconds: 600, ipMaxFailuresPerMinute: IP_BUDGET },
      // Room for every refused attempt's dummy verification, so each answers 400, not 503.
      security: { hashQueue: 10_000 },
      validators: [
        {
          name: 'directory',
          type: 'ldap',
          urls: [slapd.url],
          bindDn: SERVICE.dn,
          bindPasswordFile,
          userSearchBase: PEOPLE,
          userSearchFilter: '(uid={username})',
          groups: { memberOfAttribute: 'memberOf' },
          timeoutMs: 20_000,
          poolSize: 4,
        },
      ],
      clients: [{ id: 'app', secretFile: clientSecretFile, scopes: ['read'], defaultScopes: ['read'], validators: ['directory'] }],
      routes: [{ path: '/legacy/**', auth: 'bearer-or-basic', basicClient: 'app' }],
      basicBridge: { cacheSeconds: 0 },
    },
  });
  // The second replica: the same configuration file (same Redis, same key prefix).
  replica = spawn(process.execPath, [join(build, 'cli.mjs'), 'start', '--config', join(a.dir, 'gateway.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  replica.stdout?.on('data', (c: Buffer) => (replicaOut += c.toString()));
  replica.stderr?.on('data', (c: Buffer) => (replicaOut += c.toString()));
  const listening = (): { port?: number } | undefined =>
    replicaOut
      .split('\n')
      .filter((l) => l.includes('"ropc-gateway listening"'))
      .map((l) => JSON.parse(l) as { port?: number })[0];
  await waitFor(() => listening() !== undefined || replica.exitCode !== null, 30_000, 'the replica to listen');
  const port = listening()?.port;
  if (replica.exitCode !== null || !port) throw new Error(`the replica did not start: ${replicaOut.slice(0, 2000)}`);
  bUrl = `http://127.0.0.1:${port}`;
}, 180_000);

afterAll(async () => {
  if (replica && replica.exitCode === null) {
    const exited = new Promise((r) => replica.once('exit', r));
    replica.kill('SIGTERM');
    await exited;
  }
  await a?.stop();
  await Promise.all([upstream?.close(), redis?.stop(), slapd?.stop()]);
  for (const d of [dir, build]) if (d) rmSync(d, { recursive: true, force: true });
});

const MARKER = 'cn=log-marker-';
/** Simple binds of user DNs slapd logged (every bind but the service account's and the markers). */
function userBinds(): number {
  return slapd
    .statsLog()
    .split('\n')
    .filter(
      (line) => / BIND dn=".*" method=128/.test(line) && !line.includes(`BIND dn="${SERVICE.dn}"`) && !line.includes(`BIND dn="${MARKER}`),
    ).length;
}

const token = (base: string, username: string, password: string, ip: string) =>
  postForm(
    `${base}/as/token.oauth2`,
    `grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(password)}`,
    {
      authorization: basicAuth('app', SECRET),
      'x-forwarded-for': ip,
    },
  );
const basic = async (base: string, username: string, password: string, ip: string): Promise<number> =>
  (
    await fetch(`${base}/legacy/x`, {
      headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`, 'x-forwarded-for': ip },
    })
  ).status;
const bases = (): string[] => [a.url, bUrl];
let markers = 0;
/**
 * Settles when this process has read everything slapd logged so far (its log reaches us through a
 * pipe, behind the answers). slapd logs a BIND when it takes it, before it answers, so the BINDs
 * behind every answer received are logged before a bind sent now: once that marker bind's line is
 * read, so are they, however slow the machine.
 */
async function settled(): Promise<void> {
  const dn = `${MARKER}${++markers},${PEOPLE}`;
  const client = new Client({ url: slapd.url });
  await client.bind(dn, 'marker').catch(() => undefined); // no such entry: refused, but logged
  await client.unbind().catch(() => undefined);
  await waitFor(() => slapd.statsLog().includes(`BIND dn="${dn}" method=128`), 30_000, 'slapd to log the marker bind');
}

describe('N concurrent guesses across two replicas sharing Redis', () => {
  it(`200 wrong passwords for one user from 200 IPs: at most maxFailures (${MAX_FAILURES}) binds of its DN reach slapd, then it is locked`, async () => {
    const joe = LDAP_USERS.joe;
    const before = slapd.bindCount(joe.dn);
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => token(bases()[i % 2]!, 'joe', `wrong-${i}`, `198.18.1.${i}`)));
    // invalid_grant, or (a guess that found the user's last slots still taken after its wait) 503.
    expect(answers.map((r) => r.status).filter((s) => s !== 400 && s !== 503)).toEqual([]);
    expect(
      answers
        .filter((r) => r.status === 400)
        .every((r) => r.text === '{"error":"invalid_grant","error_description":"authentication failed"}'),
    ).toBe(true);
    await settled();
    const binds = slapd.bindCount(joe.dn) - before;
    expect(binds).toBeGreaterThan(0);
    expect(binds).toBeLessThanOrEqual(MAX_FAILURES);
    // Locked on both replicas: the right password is refused and never reaches slapd.
    for (const base of bases()) expect((await token(base, 'joe', joe.password, '198.18.2.1')).status).toBe(400);
    await settled();
    expect(slapd.bindCount(joe.dn) - before).toBe(binds);
  }, 120_000);

  it(`300 guesses from one IP (budget ${IP_BUDGET}/min) over 100 users: at most ${IP_BUDGET} user binds reach slapd, then the right password is refused`, async () => {
    const ip = '198.18.3.3';
    // The client's success remembered on both replicas, as a busy client's is: otherwise a
    // request whose client authentication comes after the IP's budget is used up gets
    // invalid_client (401) by design (docs/security.md, client-auth-budget.test.ts), and how many
    // do would depend on the machine's speed.
    for (const base of bases()) expect((await token(base, 'alice', LDAP_USERS.alice.password, '198.18.3.9')).status).toBe(200);
    await settled();
    const before = userBinds();
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => token(bases()[i % 2]!, `nobody${i % 100}`, 'guess', ip)));
    // invalid_grant, or 503 for those that found the budget full of attempts in flight.
    expect(answers.map((r) => r.status).filter((s) => s !== 400 && s !== 503)).toEqual([]);
    await settled();
    const binds = userBinds() - before;
    expect(binds).toBeGreaterThan(0);
    expect(binds).toBeLessThanOrEqual(IP_BUDGET);
    const alice = LDAP_USERS.alice;
    for (const base of bases()) expect((await token(base, 'alice', alice.password, ip)).status).toBe(400);
    await settled();
    expect(userBinds() - before).toBe(binds);
    // Another IP is not affected.
    expect((await token(bUrl, 'alice', alice.password, '198.18.3.4')).status).toBe(200);
  }, 120_000);

  it('the Basic bridge goes through the same reservation: 200 concurrent wrong Basic passwords, at most maxFailures binds', async () => {
    const gina = LDAP_USERS.gina;
    const before = slapd.bindCount(gina.dn);
    const statuses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => basic(bases()[i % 2]!, gina.uid, `wrong-${i}`, `198.18.4.${i}`)),
    );
    expect(statuses.filter((s) => s !== 401 && s !== 503)).toEqual([]);
    await settled();
    const binds = slapd.bindCount(gina.dn) - before;
    expect(binds).toBeGreaterThan(0);
    expect(binds).toBeLessThanOrEqual(MAX_FAILURES);
    // Locked for the bridge and for the token endpoint, on both replicas.
    for (const base of bases()) {
      expect(await basic(base, gina.uid, gina.password, '198.18.5.1')).toBe(401);
      expect((await token(base, gina.uid, gina.password, '198.18.5.1')).status).toBe(400);
    }
    await settled();
    expect(slapd.bindCount(gina.dn) - before).toBe(binds);
  }, 120_000);
});
