/**
 * Redis Sentinel (docs/architecture.md, docs/deployment.md): a real master, replica and sentinel (`redis-server
 * --sentinel`), all with passwords read from `…File` keys, and a real gateway configured with
 * `store.redis.sentinels`. A failover while the gateway serves — forced (`SENTINEL FAILOVER`)
 * and by a crash of the master (SIGKILL) — keeps every token issued before it, and the
 * gateway follows the new master without a restart.
 *
 * Replication is asynchronous: a write the master acknowledged but had not yet sent to the
 * replica is lost when the master crashes (docs/deployment.md). The tests therefore wait for
 * the replica to acknowledge (WAIT) before they fail the master over; what they check is that
 * nothing that had reached the replica is lost and that the gateway fails closed meanwhile.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startRedisSentinel, type RedisSentinel } from '../support/start-redis-sentinel.js';
import { sleep } from '../support/wait-for.js';

let sentinel: RedisSentinel;
let upstream: Upstream;
let gw: TestGateway;
let secrets: string;
const prefix = 'sentinel-test:';

beforeAll(async () => {
  [sentinel, upstream] = await Promise.all([startRedisSentinel(), startEchoUpstream()]);
  secrets = mkdtempSync(join(tmpdir(), 'ropc-sentinel-secrets-'));
  writeFileSync(join(secrets, 'redis-password'), `${sentinel.password}\n`);
  writeFileSync(join(secrets, 'sentinel-password'), `${sentinel.sentinelPassword}\n`);
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      store: {
        type: 'redis',
        redis: {
          sentinels: [sentinel.sentinelAddress],
          sentinelName: sentinel.masterName,
          passwordFile: join(secrets, 'redis-password'),
          sentinelPasswordFile: join(secrets, 'sentinel-password'),
          keyPrefix: prefix,
          commandTimeoutMs: 500,
          connectTimeoutMs: 1000,
        },
      },
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([upstream?.close(), sentinel?.stop()]);
  if (secrets) rmSync(secrets, { recursive: true, force: true });
});

interface Grant {
  readonly access: string;
  readonly refresh: string;
}

async function login(user: keyof typeof USERS = 'joe'): Promise<Grant> {
  const res = await postForm(
    gw.tokenUrl,
    new URLSearchParams({ grant_type: 'password', username: user, password: USERS[user].password }).toString(),
    {
      authorization: basicAuth(),
    },
  );
  expect(res.status, res.text).toBe(200);
  return { access: res.json.access_token as string, refresh: res.json.refresh_token as string };
}

const refresh = (token: string) => postForm(gw.tokenUrl, `grant_type=refresh_token&refresh_token=${token}`, { authorization: basicAuth() });
const call = async (token: string): Promise<number> =>
  (await fetch(`${gw.url}/api/orders`, { headers: { authorization: `Bearer ${token}` } })).status;

/** Calls the proxied path with `token` every 25 ms until stopped; resolves with the statuses seen. */
function keepCalling(token: string): { stop(): Promise<number[]> } {
  const statuses: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      statuses.push(await call(token).catch(() => 0));
      await sleep(25);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return statuses;
    },
  };
}

/**
 * Waits until the gateway is back on the new master: ready, and logins succeed. Half a second
 * after the switch, no login may land anywhere but on the new master: right after a forced
 * failover the old master still answers as one (until the sentinel demotes it, seconds later),
 * and what it accepts then is lost. The family id is the token's first 22 characters.
 */
async function waitForRecovery(masterPort: number): Promise<void> {
  const master = sentinel.nodes.find((n) => n.port === masterPort)!;
  let elsewhere = 0;
  await sleep(500);
  await expect.poll(async () => (await fetch(`${gw.adminUrl}/readyz`)).status, { timeout: 20_000, interval: 200 }).toBe(200);
  await expect
    .poll(
      async () => {
        const res = await postForm(gw.tokenUrl, `grant_type=password&username=alice&password=${encodeURIComponent(USERS.alice.password)}`, {
          authorization: basicAuth(),
        });
        if (res.status !== 200) return `login answered ${res.status}`;
        const familyId = (res.json.access_token as string).slice(0, 22);
        if ((await master.command('EXISTS', `${prefix}{${familyId}}:fam`)) === 1) return 'on the new master';
        elsewhere += 1;
        return 'stored elsewhere';
      },
      { timeout: 20_000, interval: 200 },
    )
    .toBe('on the new master');
  expect(elsewhere, 'logins stored on the old master after the switch (lost when it resyncs)').toBe(0);
}

describe('Redis Sentinel', () => {
  it('serves from the master the sentinel names, authenticating to both', async () => {
    const masterPort = await sentinel.masterPort();
    const master = sentinel.nodes.find((n) => n.port === masterPort)!;
    const grant = await login();
    expect(await call(grant.access)).toBe(200);
    expect((await fetch(`${gw.adminUrl}/readyz`)).status).toBe(200);
    expect(Number(await master.command('DBSIZE'))).toBeGreaterThan(0);
  });

  describe.each([
    ['a forced failover (SENTINEL FAILOVER)', () => sentinel.failover()],
    ['a crash of the master (SIGKILL)', () => sentinel.crashMaster()],
  ])('%s while serving', (_, failover) => {
    it('keeps the tokens issued before it, fails closed meanwhile, and follows the new master', async () => {
      const before = await sentinel.masterPort();
      const grants = [await login('joe'), await login('alice'), await login('joe')];
      // A rotated family: its old refresh token must still be detected as reused afterwards.
      const first = await refresh(grants[2]!.refresh);
      expect(first.status).toBe(200);
      const rotated = { old: grants[2]!.refresh, current: first.json.refresh_token as string, access: first.json.access_token as string };
      await sentinel.waitForReplication();

      const load = keepCalling(grants[0]!.access);
      const after = await failover();
      await waitForRecovery(after);
      const statuses = await load.stop();

      expect(after).not.toBe(before);
      expect(statuses.length).toBeGreaterThan(0);
      // Never let a request through without a verdict (503 while no master answers), and never
      // turn a valid token away as invalid (401): the replica had every record.
      expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
      for (const grant of grants) expect(await call(grant.access)).toBe(200);
      expect(await call(rotated.access)).toBe(200);

      // Refresh state survived too: the current refresh token rotates, the family stays whole.
      const second = await refresh(rotated.current);
      expect(second.status, second.text).toBe(200);
      expect(await call(second.json.access_token as string)).toBe(200);
      // Rotation detection survived: the first, long-rotated refresh token revokes the family.
      const reuse = await refresh(rotated.old);
      expect(reuse.status).toBe(400);
      expect(reuse.json.error).toBe('invalid_grant');
      expect(await call(second.json.access_token as string)).toBe(401);

      // New grants are written to the new master (not to the demoted one, whose writes a
      // resync would throw away).
      const fresh = await login('alice');
      expect(await call(fresh.access)).toBe(200);
      const master = sentinel.nodes.find((n) => n.port === after)!;
      expect(await master.command('INFO', 'replication')).toMatch(/role:master/);
      expect(await master.command('EXISTS', `${prefix}{${fresh.access.slice(0, 22)}}:fam`)).toBe(1);
    }, 60_000);
  });
});
