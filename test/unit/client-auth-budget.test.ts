/**
 * Failed client authentication counts in the client IP's failure budget, and an IP over budget
 * is refused before any hash is verified (token-endpoint/clients.ts); hash verifications are
 * capped with a small queue (security/password-hash.ts). The hash functions are the real ones,
 * observed through spies; the attempt store is the real memory store.
 */
import bcrypt from 'bcryptjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClientConfig } from '../../src/config/types.js';
import { TemporarilyUnavailableError } from '../../src/oauth/errors.js';
import { MemoryAttemptStore } from '../../src/security/attempt-store-memory.js';
import { ipKey, Lockout, type LockoutSettings } from '../../src/security/lockout.js';
import { burnVerification, hashLoad, setHashLimits, verifySecret } from '../../src/security/password-hash.js';
import { ClientRegistry } from '../../src/token-endpoint/clients.js';
import { sleep } from '../support/wait-for.js';

vi.mock('../../src/security/password-hash.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/security/password-hash.js')>();
  return { ...real, burnVerification: vi.fn(real.burnVerification), verifySecret: vi.fn(real.verifySecret) };
});

const SETTINGS: LockoutSettings = {
  maxFailures: 5,
  lockSeconds: 60,
  maxLockSeconds: 900,
  ipMaxFailuresPerMinute: 3,
  failureResetSeconds: 3600,
  reservationSeconds: 60,
};
const IP = '198.51.100.20';
let secretHash: string;
let store: MemoryAttemptStore;
let blocked: string[];

beforeAll(async () => {
  secretHash = await bcrypt.hash('right-secret', 4);
});
beforeEach(() => {
  store = new MemoryAttemptStore();
  blocked = [];
  vi.mocked(verifySecret).mockClear();
  vi.mocked(burnVerification).mockClear();
  setHashLimits({ concurrency: 4, queue: 10_000 });
});
afterEach(() => store.close());

function registry(settings: Partial<LockoutSettings> = {}, cacheSeconds = 0): { clients: ClientRegistry; lockout: Lockout } {
  const client = {
    id: 'app',
    secretHash,
    secret: '',
    public: false,
    scopes: ['read'],
    defaultScopes: [],
    grantTypes: ['password'],
    validators: [],
  } as unknown as ClientConfig;
  const lockout = new Lockout(store, { ...SETTINGS, ...settings });
  const budget = {
    reserveIp: (ip: string) => lockout.reserveIp(ip),
    ipBudget: lockout.ipBudget,
    onIpBlocked: (ip: string) => void blocked.push(ip),
  };
  return { clients: new ClientRegistry([client], cacheSeconds, budget), lockout };
}

describe('failed client authentication is budgeted per client IP', () => {
  it('counts wrong secrets and unknown client ids; over budget the right secret is refused without any hash verification', async () => {
    const { clients, lockout } = registry();
    expect(await clients.authenticate('app', 'wrong', IP)).toBeUndefined();
    expect(await clients.authenticate('nobody', 'whatever', IP)).toBeUndefined();
    expect(await clients.publicClient('nobody-else', IP)).toBeUndefined();
    expect(vi.mocked(verifySecret)).toHaveBeenCalledTimes(1);
    expect(vi.mocked(burnVerification)).toHaveBeenCalledTimes(1);
    // The third failure used the budget up: reported once (log line and metric in app.ts).
    expect(blocked).toEqual([IP]);

    expect(await clients.authenticate('app', 'right-secret', IP)).toBeUndefined();
    expect(await clients.authenticate('nobody', 'whatever', IP)).toBeUndefined();
    expect(vi.mocked(verifySecret)).toHaveBeenCalledTimes(1);
    expect(vi.mocked(burnVerification)).toHaveBeenCalledTimes(1);
    // The budget is the one user logins use.
    expect(await lockout.reserve('gina', IP)).toMatchObject({ admitted: false, reason: 'ip-blocked' });
    // Another IP is not affected.
    expect((await clients.authenticate('app', 'right-secret', '198.51.100.21'))?.id).toBe('app');
  });

  it('a success is not counted', async () => {
    const { clients } = registry();
    for (let i = 0; i < 5; i++) expect((await clients.authenticate('app', 'right-secret', IP))?.id).toBe('app');
    expect(await store.ipFailures(ipKey(IP))).toBe(0);
  });

  it('a client with a cached success is not refused by its IP being over budget (that check costs no hash)', async () => {
    const { clients } = registry({}, 60);
    expect((await clients.authenticate('app', 'right-secret', IP))?.id).toBe('app');
    for (let i = 0; i < 3; i++) await clients.authenticate('app', 'wrong', IP);
    vi.mocked(verifySecret).mockClear();
    expect((await clients.authenticate('app', 'right-secret', IP))?.id).toBe('app');
    expect(vi.mocked(verifySecret)).not.toHaveBeenCalled();
  });

  it('300 concurrent wrong secrets from one IP (budget 100): exactly 100 hash verifications', async () => {
    const { clients } = registry({ ipMaxFailuresPerMinute: 100 });
    const answers = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => clients.authenticate('app', `wrong-${i}`, IP)));
    expect(vi.mocked(verifySecret)).toHaveBeenCalledTimes(100);
    // Those that found the budget full of attempts in flight: 503, no hash.
    expect(answers.filter((a) => a.status === 'rejected' && a.reason instanceof TemporarilyUnavailableError)).toHaveLength(200);
    expect(await clients.authenticate('app', 'right-secret', IP)).toBeUndefined();
  });
});

describe('hash verifications are capped, with a small queue', () => {
  it('runs at most hashConcurrency at once, queues hashQueue, and refuses the rest with temporarily_unavailable', async () => {
    setHashLimits({ concurrency: 2, queue: 3 });
    let inFlight = 0;
    let most = 0;
    const compare = vi.spyOn(bcrypt, 'compare').mockImplementation(async () => {
      most = Math.max(most, ++inFlight);
      await sleep(20);
      inFlight--;
      return false;
    });
    try {
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => verifySecret(secretHash, 'x')));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused).toHaveLength(5);
      for (const r of refused) expect(r.reason).toBeInstanceOf(TemporarilyUnavailableError);
      expect(most).toBe(2);
      expect(hashLoad()).toEqual({ running: 0, waiting: 0 });
      // The slots are free again.
      expect(await verifySecret(secretHash, 'x')).toBe(false);
    } finally {
      compare.mockRestore();
    }
  });

  it('a client authentication refused by a full queue is not counted as a failure', async () => {
    setHashLimits({ concurrency: 1, queue: 0 });
    const { clients } = registry({ ipMaxFailuresPerMinute: 100 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => clients.authenticate('app', 'wrong', IP)));
    const refused = results.filter((r) => r.status === 'rejected').length;
    expect(refused).toBeGreaterThan(0);
    expect(await store.ipFailures(ipKey(IP))).toBe(20 - refused);
  });
});
