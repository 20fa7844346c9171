/**
 * Brute-force protection in the one login function (security/login.ts, lockout.ts), with a
 * counting fake validator and the memory attempt store; the clock is faked (Date only, so the
 * argon2id dummy verification still runs for real).
 */
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryAttemptStore } from '../../src/security/attempt-store-memory.js';
import type { AttemptStore } from '../../src/security/attempt-store.js';
import { ipKey, Lockout, userKey, type LockoutSettings } from '../../src/security/lockout.js';
import { ipBucket } from '../../src/ip-address.js';
import { createPasswordLogin, type LockoutEvent, type LoginProtection, type PasswordLogin } from '../../src/security/login.js';
import { createLogger } from '../../src/observability/logger.js';
import { setHashLimits } from '../../src/security/password-hash.js';
import { ValidatorChain } from '../../src/validators/chain.js';
import { ValidatorUnavailableError, type PasswordValidator, type ValidationOutcome } from '../../src/validators/types.js';
import { StoreUnavailableError } from '../../src/tokens/types.js';
import { TemporarilyUnavailableError } from '../../src/oauth/errors.js';
import { TestClock } from '../support/test-clock.js';
import { sleep } from '../support/wait-for.js';

const SETTINGS: LockoutSettings = {
  maxFailures: 5,
  lockSeconds: 60,
  maxLockSeconds: 900,
  ipMaxFailuresPerMinute: 100,
  failureResetSeconds: 3600,
  reservationSeconds: 60,
};
const IP = '198.51.100.7';

/** Knows gina/right and joe/right (case-insensitive, as LDAP); counts its calls. */
class FakeValidator implements PasswordValidator {
  readonly name = 'fake';
  readonly type = 'fake';
  calls = 0;
  down = false;
  /** Answers after this long (real time), so concurrent logins overlap in the validator. */
  delayMs = 0;
  async validate(username: string, password: string): Promise<ValidationOutcome> {
    this.calls++;
    if (this.delayMs) await sleep(this.delayMs);
    if (this.down) throw new ValidatorUnavailableError(this.name, 'connection refused');
    const user = username.toLowerCase();
    if ((user === 'gina' || user === 'joe') && password === 'right')
      return { valid: true, principal: { subject: user, groups: [], attributes: {} } };
    return { valid: false, reason: 'invalid-password' };
  }
  async recheck(): Promise<'active'> {
    return 'active';
  }
  async health() {
    return { name: this.name, type: this.type, status: 'up' as const };
  }
  async close(): Promise<void> {}
}

let validator: FakeValidator;
let store: MemoryAttemptStore;
let logText: string;
let events: LockoutEvent[];

function makeLogin(
  settings: Partial<LockoutSettings> = {},
  attempts: AttemptStore = store,
  extra: Partial<LoginProtection> = {},
): PasswordLogin {
  const chain = new ValidatorChain([validator]);
  logText = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logText += chunk.toString();
      done();
    },
  });
  return createPasswordLogin(() => chain, {
    lockout: new Lockout(attempts, { ...SETTINGS, ...settings }),
    logger: createLogger('debug', sink),
    onLockout: (e) => events.push(e),
    ...extra,
  });
}

/** The attempt store's clock: lock windows pass when the test says. */
let clock: TestClock;
const advance = (seconds: number): void => clock.advance(seconds * 1000);

async function fail(login: PasswordLogin, times: number, username = 'gina', ip = IP): Promise<void> {
  for (let i = 0; i < times; i++) expect((await login('app', username, 'wrong', ip)).valid).toBe(false);
}

beforeEach(() => {
  clock = TestClock.frozen(Date.parse('2030-01-01T00:00:00Z'));
  validator = new FakeValidator();
  store = new MemoryAttemptStore({ clock });
  // Room for every dummy verification of the concurrency tests (the cap is tested in client-auth-budget.test.ts).
  setHashLimits({ concurrency: 4, queue: 10_000 });
  events = [];
});
afterEach(async () => {
  await store.close();
});

describe('per-username lockout', () => {
  it('locks after maxFailures: the right password is refused and the validator is not called', async () => {
    const login = makeLogin();
    await fail(login, 4);
    expect((await login('app', 'gina', 'right', IP)).valid).toBe(true);
    await fail(login, 5);
    expect(events).toEqual(['user']);
    const calls = validator.calls;
    expect(await login('app', 'gina', 'right', IP)).toEqual({ valid: false });
    expect(validator.calls).toBe(calls);
    // Other users are not affected.
    expect((await login('app', 'joe', 'right', IP)).valid).toBe(true);
  });

  it('counts every spelling of a username on one counter (NFKC, case-insensitive)', async () => {
    const login = makeLogin();
    for (const spelling of ['GINA', 'ｇｉｎａ', 'Gina', 'ＧＩＮＡ', 'gina']) await fail(login, 1, spelling);
    for (const spelling of ['gina', 'GINA', 'ｇｉｎａ']) expect((await login('app', spelling, 'right', IP)).valid).toBe(false);
    expect(userKey('ｇｉｎａ')).toBe(userKey('GINA'));
    expect(userKey('gina')).not.toBe(userKey('gina '));
  });

  it('a success resets the count', async () => {
    const login = makeLogin();
    await fail(login, 4);
    expect((await login('app', 'gina', 'right', IP)).valid).toBe(true);
    await fail(login, 4);
    expect((await login('app', 'gina', 'right', IP)).valid).toBe(true);
    expect(events).toEqual([]);
  });

  it('doubles the lock with every further lockout, up to maxLockSeconds', async () => {
    const login = makeLogin({ lockSeconds: 60, maxLockSeconds: 200 });
    const lockedFor = async (): Promise<number> => {
      let seconds = 0;
      while (!(await login('app', 'gina', 'right', IP)).valid) {
        advance(10);
        seconds += 10;
      }
      // That success reset everything: fail again to reach the next level.
      return seconds;
    };
    await fail(login, 5);
    expect(await lockedFor()).toBe(60);
    // A success resets the doubling too, so lock twice in a row without one.
    await fail(login, 5);
    advance(61);
    await fail(login, 5);
    let seconds = 0;
    while ((await store.userState(userKey('gina'))).lockedMs > 0) {
      advance(10);
      seconds += 10;
    }
    expect(seconds).toBe(120);
    await fail(login, 5);
    expect((await store.userState(userKey('gina'))).lockedMs).toBe(200_000);
    advance(201);
    await fail(login, 5);
    expect((await store.userState(userKey('gina'))).lockedMs).toBe(200_000);
  });

  it('does not count failures while locked, nor extend the lock', async () => {
    const login = makeLogin();
    await fail(login, 5);
    advance(30);
    await fail(login, 10);
    advance(31);
    expect((await login('app', 'gina', 'right', IP)).valid).toBe(true);
  });

  it('forgets failures and the lock level failureResetSeconds after the last failure', async () => {
    const login = makeLogin({ failureResetSeconds: 600 });
    await fail(login, 4);
    advance(601);
    await fail(login, 4);
    expect((await login('app', 'gina', 'right', IP)).valid).toBe(true);
    // The level too: lock, wait for the lock and the reset window, lock again: 60 s, not 120 s.
    await fail(login, 5);
    advance(60 + 601);
    await fail(login, 5);
    expect((await store.userState(userKey('gina'))).lockedMs).toBe(60_000);
  });

  it('logs the lock by counter key, never the username', async () => {
    const login = makeLogin();
    await fail(login, 5, 'correct horse battery staple');
    expect(logText).toContain('"event":"user_locked"');
    expect(logText).toContain(userKey('correct horse battery staple'));
    expect(logText).not.toContain('correct horse');
  });

  it('spends the burn of the client (the cost its users files would) on a locked user, and on no one else', async () => {
    const chain = new ValidatorChain([validator]);
    const burnt: string[] = [];
    const sink = new Writable({ write: (_c, _e, done) => done() });
    const login = createPasswordLogin(() => chain, {
      lockout: new Lockout(store, SETTINGS),
      logger: createLogger('info', sink),
      burn: async (clientId) => void burnt.push(clientId),
    });
    await fail(login, 5);
    expect(burnt).toEqual([]);
    expect(await login('app', 'gina', 'right', IP)).toEqual({ valid: false });
    expect(burnt).toEqual(['app']);
  });

  it('spends a verification on a locked user, as on a wrong password', async () => {
    const login = makeLogin();
    await fail(login, 5);
    const start = performance.now();
    await login('app', 'gina', 'right', IP);
    // argon2id (64 MiB, t=3) takes well over a few milliseconds; an instant answer would tell.
    expect(performance.now() - start).toBeGreaterThan(5);
  });
});

describe('concurrency cannot race past the limits (memory store, one process)', () => {
  const parallel = (login: PasswordLogin, count: number, user: (i: number) => string, ip = IP) =>
    Promise.all(Array.from({ length: count }, (_, i) => login('app', user(i), 'wrong', ip)));

  // Every refused guess still spends an argon2id verification (55 of them): how long that takes
  // depends on the machine, not on the behaviour, so the test gets the time a busy one needs.
  it('60 concurrent wrong guesses for one user: at most maxFailures reach the validator, and the user is locked', async () => {
    validator.delayMs = 20;
    const login = makeLogin();
    const outcomes = await parallel(login, 60, () => 'gina');
    expect(outcomes.every((o) => !o.valid)).toBe(true);
    expect(validator.calls).toBe(SETTINGS.maxFailures);
    expect(events).toEqual(['user']);
    expect(await login('app', 'gina', 'right', IP)).toEqual({ valid: false });
    expect(validator.calls).toBe(SETTINGS.maxFailures);
  }, 120_000);

  it('300 concurrent guesses from one IP with a budget of 100: at most 100 reach the validator, then the right password is refused', async () => {
    validator.delayMs = 20;
    const login = makeLogin({ maxFailures: 1000, ipMaxFailuresPerMinute: 100 });
    const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => login('app', `user${i % 7}`, 'wrong', IP)));
    expect(validator.calls).toBe(100);
    // The rest found the budget full of attempts in flight: 503 (retry), not counted.
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(200);
    for (const r of refused) expect(r.reason).toBeInstanceOf(TemporarilyUnavailableError);
    expect(await store.ipFailures(ipKey(IP))).toBe(100);
    expect(await login('app', 'joe', 'right', IP)).toEqual({ valid: false });
    expect(validator.calls).toBe(100);
  });

  it('a validator outage gives the reservations back: nothing is counted, and the user can log in after', async () => {
    validator.delayMs = 5;
    validator.down = true;
    const login = makeLogin();
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => login('app', 'gina', 'wrong', IP)));
    // None was judged: each waited for a slot and met the outage (giving its slot back), or
    // found none free for as long as it waited (503, nothing counted).
    expect(
      results.every(
        (r) =>
          r.status === 'rejected' && (r.reason instanceof ValidatorUnavailableError || r.reason instanceof TemporarilyUnavailableError),
      ),
    ).toBe(true);
    expect(validator.calls).toBeGreaterThan(SETTINGS.maxFailures);
    expect(await store.userState(userKey('gina'))).toEqual({ lockedMs: 0, recorded: false });
    expect(await store.ipFailures(ipKey(IP))).toBe(0);
    validator.down = false;
    expect((await login('app', 'gina', 'right', IP)).valid).toBe(true);
  });

  it("one user's legitimate parallel logins all get through: those beyond maxFailures wait for a slot", async () => {
    validator.delayMs = 20;
    const login = makeLogin();
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => login('app', 'gina', 'right', IP)));
    expect(outcomes.every((o) => o.valid)).toBe(true);
    expect(validator.calls).toBe(20);
  });
});

describe('outages never count', () => {
  it('a validator outage is thrown, not counted', async () => {
    const login = makeLogin();
    validator.down = true;
    for (let i = 0; i < 10; i++) await expect(login('app', 'gina', 'wrong', IP)).rejects.toBeInstanceOf(ValidatorUnavailableError);
    expect(await store.userState(userKey('gina'))).toEqual({ lockedMs: 0, recorded: false });
    expect(await store.ipFailures(ipKey(IP))).toBe(0);
    validator.down = false;
    expect((await login('app', 'gina', 'right', IP)).valid).toBe(true);
  });

  it('an attempt store outage fails closed: 503 before the validator is called', async () => {
    const broken: AttemptStore = {
      userState: () => Promise.reject(new StoreUnavailableError('connection refused')),
      reserveUser: () => Promise.reject(new StoreUnavailableError('connection refused')),
      settleUser: () => Promise.reject(new StoreUnavailableError('connection refused')),
      ipFailures: () => Promise.reject(new StoreUnavailableError('connection refused')),
      reserveIp: () => Promise.reject(new StoreUnavailableError('connection refused')),
      settleIp: () => Promise.reject(new StoreUnavailableError('connection refused')),
      close: async () => {},
    };
    const login = makeLogin({}, broken);
    await expect(login('app', 'gina', 'right', IP)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(validator.calls).toBe(0);
  });
});

describe('what follows a valid login (onValid, sent with the settlement)', () => {
  it('runs for a valid login only, inside the one write, before the login resolves', async () => {
    const seen: string[] = [];
    const oneWrite = <T>(issue: () => T): T => {
      seen.push('write:begin');
      const out = issue();
      seen.push('write:end');
      return out;
    };
    const login = makeLogin({}, store, { oneWrite });
    const onValid = async (outcome: { principal: { subject: string } }): Promise<void> =>
      void seen.push(`valid:${outcome.principal.subject}`);
    expect((await login('app', 'gina', 'wrong', IP, { onValid })).valid).toBe(false);
    expect(seen).toEqual([]);
    expect((await login('app', 'gina', 'right', IP, { onValid })).valid).toBe(true);
    expect(seen).toEqual(['write:begin', 'valid:gina', 'write:end']);
    // The success was settled: the failure before it is forgotten.
    expect(await store.userState(userKey('gina'))).toEqual({ lockedMs: 0, recorded: false });
  });

  it('fails the login when it fails (thrown or rejected), and the success is still settled', async () => {
    const login = makeLogin();
    await fail(login, 2);
    const broken = new StoreUnavailableError('family not stored');
    await expect(login('app', 'gina', 'right', IP, { onValid: () => Promise.reject(broken) })).rejects.toBe(broken);
    expect(await store.userState(userKey('gina'))).toEqual({ lockedMs: 0, recorded: false });
    const thrown = (): Promise<void> => {
      throw broken;
    };
    await expect(login('app', 'gina', 'right', IP, { onValid: thrown })).rejects.toBe(broken);
    expect(await store.ipFailures(ipKey(IP))).toBe(2);
  });

  it('does not make a login valid when the settlement fails, though onValid succeeded', async () => {
    const refusing: AttemptStore = {
      userState: (k) => store.userState(k),
      reserveUser: (...a) => store.reserveUser(...a),
      ipFailures: (k) => store.ipFailures(k),
      reserveIp: (...a) => store.reserveIp(...a),
      settleIp: (...a) => store.settleIp(...a),
      settleUser: (key, id, result, policy) =>
        result === 'success' ? Promise.reject(new StoreUnavailableError('connection lost')) : store.settleUser(key, id, result, policy),
      close: async () => {},
    };
    let followed = 0;
    const login = makeLogin({}, refusing);
    await expect(
      login('app', 'gina', 'right', IP, {
        onValid: async () => {
          followed += 1;
        },
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(followed).toBe(1);
  });
});

describe('per-IP failure budget', () => {
  it('refuses every login from an IP over its budget until the minute ends; other IPs are not affected', async () => {
    const login = makeLogin({ ipMaxFailuresPerMinute: 3, maxFailures: 100 });
    await fail(login, 1, 'a');
    await fail(login, 1, 'b');
    await fail(login, 1, 'c');
    expect(events).toEqual(['ip']);
    const calls = validator.calls;
    expect((await login('app', 'joe', 'right', IP)).valid).toBe(false);
    expect(validator.calls).toBe(calls);
    expect((await login('app', 'joe', 'right', '198.51.100.8')).valid).toBe(true);
    advance(61);
    expect((await login('app', 'joe', 'right', IP)).valid).toBe(true);
  });

  it('counts attempts on a locked user against the IP', async () => {
    const login = makeLogin({ ipMaxFailuresPerMinute: 8, maxFailures: 5 });
    await fail(login, 5);
    await fail(login, 3);
    expect((await login('app', 'joe', 'right', IP)).valid).toBe(false);
  });

  it('counts IPv4-mapped addresses as IPv4 and IPv6 per /64', () => {
    expect(ipBucket('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(ipBucket('::ffff:c000:201')).toBe('192.0.2.1');
    expect(ipBucket('0:0:0:0:0:FFFF:c000:0201%1')).toBe('192.0.2.1');
    expect(ipBucket('192.0.2.1')).toBe('192.0.2.1');
    expect(ipBucket('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(ipBucket('2001:0DB8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(ipBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipBucket('::1')).toBe('0:0:0:0::/64');
    expect(ipBucket('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(ipBucket('::ffff:10.0.0.1.example')).toBe('::ffff:10.0.0.1.example');
    expect(ipBucket(`fe80::1%${'z'.repeat(20_000)}`)).toBe('fe80:0:0:0::/64');
    expect(ipKey('2001:db8:1:2::1')).toBe(ipKey('2001:db8:1:2:ffff::'));
    expect(ipKey('2001:db8:1:3::1')).not.toBe(ipKey('2001:db8:1:2::1'));
    expect(ipKey('')).toBe(ipKey(''));
  });
});

describe('MemoryAttemptStore', () => {
  it('keeps at most maxEntries counters, dropping the oldest', async () => {
    const small = new MemoryAttemptStore({ maxEntries: 3 });
    const policy = { maxFailures: 5, lockMs: 1000, maxLockMs: 1000, resetMs: 60_000, ttlMs: 60_000 };
    for (const u of ['a', 'b', 'c', 'd']) await small.settleUser(u, 'id', 'failure', policy);
    expect((await small.userState('a')).recorded).toBe(false);
    expect((await small.userState('d')).recorded).toBe(true);
    for (const ip of ['1', '2', '3', '4']) await small.settleIp(ip, 'id', 'failure', { budget: 100, windowMs: 60_000, ttlMs: 60_000 });
    expect(await small.ipFailures('1')).toBe(0);
    expect(await small.ipFailures('4')).toBe(1);
    await small.close();
  });
});
