/**
 * Brute-force and enumeration protection end to end (docs/security.md): real gateways on one real
 * redis-server, the token endpoint and the resource path's Basic bridge, real HTTP clients. Lock
 * windows are walked through on the memory store, whose clock the test moves; one real-time test
 * shows a lock in Redis lapsing by the server's own clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { sleep } from '../support/wait-for.js';
import { TestClock } from '../support/test-clock.js';

let upstream: Upstream;
let redis: RedisProcess;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  upstream = await startEchoUpstream();
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await upstream?.close();
  await redis?.stop();
});

async function gateway(config: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startGateway({ upstream: upstream.url, redisUrl: redis.url, config });
  gateways.push(gw);
  return gw;
}

const password = (gw: TestGateway, username: string, pw: string, headers: Record<string, string> = {}) =>
  postForm(gw.tokenUrl, `grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(pw)}`, {
    authorization: basicAuth(),
    ...headers,
  });

/** The answer to a wrong password, byte for byte. */
const WRONG = '{"error":"invalid_grant","error_description":"authentication failed"}';

describe('per-username lockout at the token endpoint', () => {
  // The lock windows of the memory store follow the gateway's clock, moved here; Redis keeps
  // its own time (the real-time test below).
  const clock = TestClock.frozen();
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ upstream: upstream.url, clock, config: { lockout: { maxFailures: 3, lockSeconds: 1, maxLockSeconds: 3 } } });
    gateways.push(gw);
  });

  it('locks after maxFailures with the wrong-password answer, expires, and doubles', async () => {
    for (let i = 0; i < 3; i++) expect((await password(gw, 'joe', 'wrong')).text).toBe(WRONG);
    const locked = await password(gw, 'joe', USERS.joe.password);
    expect(locked.status).toBe(400);
    expect(locked.text).toBe(WRONG);
    expect(locked.headers.get('cache-control')).toBe('no-store');
    clock.advance(999);
    expect((await password(gw, 'joe', USERS.joe.password)).text).toBe(WRONG);
    clock.advance(1);
    expect((await password(gw, 'joe', USERS.joe.password)).status).toBe(200);

    // Success reset the count and the level: lock twice in a row for the doubling.
    for (let i = 0; i < 3; i++) await password(gw, 'joe', 'wrong');
    clock.advance(1000);
    for (let i = 0; i < 3; i++) await password(gw, 'joe', 'wrong');
    clock.advance(1999);
    expect((await password(gw, 'joe', USERS.joe.password)).text).toBe(WRONG);
    clock.advance(1);
    expect((await password(gw, 'joe', USERS.joe.password)).status).toBe(200);
  });

  it('logs the lock as a security event without the username or password, and counts it', async () => {
    for (let i = 0; i < 3; i++) await password(gw, 'alice', 'alice-wrong-password');
    const line = gw.logs().find((l) => l.event === 'user_locked');
    expect(line).toMatchObject({ level: 'warn', lockSeconds: 1, clientId: 'app' });
    expect(gw.logText()).not.toMatch(/alice-wrong-password/);
    expect(JSON.stringify(line)).not.toContain('alice');
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/ropc_lockouts_total\{kind="user"\} [1-9]/);
  });
});

describe("real time: a lock in Redis lapses by the Redis server's clock", () => {
  it('refuses the right password while locked and accepts it once lockSeconds have passed', async () => {
    const gw = await gateway({ lockout: { maxFailures: 3, lockSeconds: 1 } });
    for (let i = 0; i < 3; i++) expect((await password(gw, 'joe', 'wrong')).text).toBe(WRONG);
    expect((await password(gw, 'joe', USERS.joe.password)).text).toBe(WRONG);
    // Redis computes the lock's end with TIME: no in-process clock reaches it.
    await sleep(1100);
    expect((await password(gw, 'joe', USERS.joe.password)).status).toBe(200);
  });
});

describe('canonical usernames share one counter', () => {
  it('counts GINA, ｇｉｎａ and gina alike', async () => {
    const gw = await gateway({ lockout: { maxFailures: 3, lockSeconds: 30 } });
    for (const spelling of ['JOE', 'ｊｏｅ', 'Joe']) expect((await password(gw, spelling, 'wrong')).text).toBe(WRONG);
    for (const spelling of ['joe', 'JOE', 'ｊｏｅ']) expect((await password(gw, spelling, USERS.joe.password)).text).toBe(WRONG);
    expect((await password(gw, 'alice', USERS.alice.password)).status).toBe(200);
  });
});

describe('counters are shared by every replica', () => {
  it('locks a user on both gateways when the failures are spread over them', async () => {
    const prefix = `shared${Date.now()}:`;
    const config = { lockout: { maxFailures: 4, lockSeconds: 30 }, store: { redis: { keyPrefix: prefix } } };
    const [a, b] = [await gateway(config), await gateway(config)];
    await password(a, 'joe', 'wrong');
    await password(b, 'joe', 'wrong');
    await password(a, 'joe', 'wrong');
    expect((await password(b, 'joe', USERS.joe.password)).status).toBe(200);
    for (const gw of [a, b, a, b]) await password(gw, 'joe', 'wrong');
    expect((await password(a, 'joe', USERS.joe.password)).text).toBe(WRONG);
    expect((await password(b, 'joe', USERS.joe.password)).text).toBe(WRONG);
  });
});

describe('the Basic bridge goes through the same login', () => {
  it('shares the lockout with the token endpoint', async () => {
    const gw = await gateway({
      lockout: { maxFailures: 3, lockSeconds: 30 },
      routes: [{ path: '/legacy/**', auth: 'bearer-or-basic', basicClient: 'app' }],
      basicBridge: { cacheSeconds: 0 },
    });
    const basic = (pw: string) =>
      fetch(`${gw.url}/legacy/x`, { headers: { authorization: `Basic ${Buffer.from(`joe:${pw}`).toString('base64')}` } });
    expect((await basic(USERS.joe.password)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await basic('wrong')).status).toBe(401);
    expect((await basic(USERS.joe.password)).status).toBe(401);
    expect((await password(gw, 'joe', USERS.joe.password)).text).toBe(WRONG);
  });
});

describe('per-IP failure budget', () => {
  it('refuses every login from an IP over budget (X-Forwarded-For with trustProxy), not from others', async () => {
    const gw = await gateway({ server: { trustProxy: true }, lockout: { maxFailures: 100, ipMaxFailuresPerMinute: 3 } });
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    for (const user of ['u1', 'u2', 'u3']) expect((await password(gw, user, 'wrong', from('203.0.113.9'))).text).toBe(WRONG);
    expect((await password(gw, 'alice', USERS.alice.password, from('203.0.113.9'))).text).toBe(WRONG);
    expect((await password(gw, 'alice', USERS.alice.password, from('203.0.113.10'))).status).toBe(200);
    expect(gw.logs().some((l) => l.event === 'ip_blocked' && l.clientIp === '203.0.113.9')).toBe(true);
  });

  it('counts one client under one budget however the proxy spells its address (port, brackets, case, zeros, zone, IPv4-mapped), and made-up values under the peer', async () => {
    const gw = await gateway({ server: { trustProxy: true }, lockout: { maxFailures: 100, ipMaxFailuresPerMinute: 3 } });
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    for (const spelling of ['2001:db8::7', '[2001:DB8:0::0007]', '[2001:db8::7%eth0]:4431'])
      expect((await password(gw, 'nobody', 'wrong', from(spelling))).text).toBe(WRONG);
    expect((await password(gw, 'alice', USERS.alice.password, from('2001:db8::7'))).text).toBe(WRONG);
    for (const spelling of ['198.51.100.7:1234', '::ffff:c633:6407', '[0:0:0:0:0:FFFF:198.51.100.7]:80'])
      expect((await password(gw, 'nobody', 'wrong', from(spelling))).text).toBe(WRONG);
    expect((await password(gw, 'alice', USERS.alice.password, from('198.51.100.7'))).text).toBe(WRONG);
    // Values that are no address are not a client each: they share the peer's budget.
    for (const made of ['x1', 'x2', 'unknown']) expect((await password(gw, 'nobody', 'wrong', from(made))).text).toBe(WRONG);
    expect((await password(gw, 'alice', USERS.alice.password, from('x4'))).text).toBe(WRONG);
    expect((await password(gw, 'alice', USERS.alice.password, from('198.51.100.8'))).status).toBe(200);
  });

  it('uses the socket address without trustProxy (X-Forwarded-For is ignored)', async () => {
    const gw = await gateway({ lockout: { maxFailures: 100, ipMaxFailuresPerMinute: 3 } });
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) await password(gw, 'nobody', 'wrong', { 'x-forwarded-for': ip });
    expect((await password(gw, 'alice', USERS.alice.password, { 'x-forwarded-for': '203.0.113.4' })).text).toBe(WRONG);
  });
});

describe('timing (a guard, not a benchmark)', () => {
  const median = (times: number[]): number => [...times].sort((x, y) => x - y)[Math.floor(times.length / 2)]!;
  const timed = async (fn: () => Promise<unknown>): Promise<number> => {
    const start = performance.now();
    await fn();
    return performance.now() - start;
  };

  it('answers unknown users, wrong passwords and locked users in about the same time', async () => {
    const gw = await gateway({ lockout: { maxFailures: 1000, ipMaxFailuresPerMinute: 100_000 } });
    const locking = await gateway({ lockout: { maxFailures: 1, lockSeconds: 600, ipMaxFailuresPerMinute: 100_000 } });
    await password(locking, 'alice', 'wrong');
    // Warm up (first argon2id allocation, connections).
    await password(gw, 'joe', 'wrong');
    await password(gw, 'nobody', 'wrong');
    await password(locking, 'alice', USERS.alice.password);
    // Interleaved rounds, so a change of load on the machine hits the three kinds alike.
    const wrong: number[] = [];
    const unknown: number[] = [];
    const locked: number[] = [];
    for (let round = 0; round < 11; round++) {
      wrong.push(await timed(() => password(gw, 'joe', 'wrong')));
      unknown.push(await timed(() => password(gw, 'nobody-at-all', 'wrong')));
      locked.push(await timed(() => password(locking, 'alice', USERS.alice.password)));
    }
    for (const t of [median(unknown), median(locked)]) {
      expect(t / median(wrong)).toBeGreaterThan(1 / 3);
      expect(t / median(wrong)).toBeLessThan(3);
    }
  });
});
