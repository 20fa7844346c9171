/**
 * A password change goes through the login's brute-force gate (security/password-gate.ts): the
 * change path reports what a login reports — the IP budget used up on a locked user's refusal,
 * a store outage while settling as an `unavailable` event, and a counted refusal's directory
 * state in its audit event. Memory attempt store, fake clock, a fake changing validator.
 */
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryAttemptStore } from '../../src/security/attempt-store-memory.js';
import type { AttemptStore } from '../../src/security/attempt-store.js';
import { Lockout, type LockoutSettings } from '../../src/security/lockout.js';
import type { LockoutEvent } from '../../src/security/login.js';
import { createPasswordChange, type PasswordChange } from '../../src/security/password-change.js';
import { createLogger } from '../../src/observability/logger.js';
import type { Audit, AuditFields } from '../../src/observability/audit.js';
import { setHashLimits } from '../../src/security/password-hash.js';
import { ValidatorChain } from '../../src/validators/chain.js';
import type { PasswordChangeOutcome, PasswordValidator, ValidationOutcome } from '../../src/validators/types.js';
import { StoreUnavailableError } from '../../src/tokens/types.js';
import { TestClock } from '../support/test-clock.js';

const SETTINGS: LockoutSettings = {
  maxFailures: 5,
  lockSeconds: 60,
  maxLockSeconds: 900,
  ipMaxFailuresPerMinute: 100,
  failureResetSeconds: 3600,
  reservationSeconds: 60,
};
const IP = '198.51.100.7';

/** Changes gina's password from `right`; an expired account refuses even the right one. */
class ChangingValidator implements PasswordValidator {
  readonly name = 'dir';
  readonly type = 'fake';
  expired = false;
  async validate(): Promise<ValidationOutcome> {
    return { valid: false, reason: 'invalid-password' };
  }
  async changePassword(username: string, oldPassword: string): Promise<PasswordChangeOutcome> {
    if (username !== 'gina') return { changed: false, refused: { valid: false, reason: 'unknown-user' } };
    if (this.expired)
      return {
        changed: false,
        refused: { valid: false, reason: 'invalid-password', state: 'password_expired', passwordVerified: oldPassword === 'right' },
      };
    return oldPassword === 'right' ? { changed: true } : { changed: false, refused: { valid: false, reason: 'invalid-password' } };
  }
  async recheck(): Promise<'active'> {
    return 'active';
  }
  async health() {
    return { name: this.name, type: this.type, status: 'up' as const };
  }
  async close(): Promise<void> {}
}

let validator: ChangingValidator;
let store: MemoryAttemptStore;
let audited: AuditFields[];
let lockouts: LockoutEvent[];

function makeChange(settings: Partial<LockoutSettings> = {}, attempts: AttemptStore = store): PasswordChange {
  const chain = new ValidatorChain([validator]);
  const audit: Audit = { emit: (fields) => void audited.push(fields), close: () => undefined };
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  return createPasswordChange(() => chain, {
    lockout: new Lockout(attempts, { ...SETTINGS, ...settings }),
    logger: createLogger('debug', sink),
    audit,
    onLockout: (e) => lockouts.push(e),
  });
}

beforeEach(() => {
  validator = new ChangingValidator();
  store = new MemoryAttemptStore({ clock: TestClock.frozen(Date.parse('2030-01-01T00:00:00Z')) });
  setHashLimits({ concurrency: 4, queue: 10_000 });
  audited = [];
  lockouts = [];
});
afterEach(async () => {
  await store.close();
});

describe('a password change through the login gate', () => {
  it('reports the IP budget used up by a locked user refusal, as a login does', async () => {
    const change = makeChange({ maxFailures: 5, ipMaxFailuresPerMinute: 6 });
    for (let i = 0; i < 5; i++) expect((await change('app', 'gina', 'wrong', 'new-one', IP)).changed).toBe(false);
    expect(lockouts).toEqual(['user']);
    // The sixth guess finds the user locked; that refusal counts against the IP and fills its budget.
    expect(await change('app', 'gina', 'right', 'new-one', IP, 'req-6')).toEqual({
      changed: false,
      refused: { valid: false, reason: 'invalid-password' },
    });
    expect(lockouts).toEqual(['user', 'ip']);
    expect(audited.at(-2)).toEqual({
      event: 'lockout',
      outcome: 'success',
      scope: 'ip',
      reason: 'failures',
      client_ip: IP,
      client_id: 'app',
      request_id: 'req-6',
    });
    expect(audited.at(-1)).toMatchObject({ event: 'password_change', outcome: 'refused', reason: 'locked' });
  });

  it('a store outage while settling writes an unavailable event and throws', async () => {
    const failingSettle: AttemptStore = Object.assign(Object.create(store) as AttemptStore, {
      settleUser: () => Promise.reject(new StoreUnavailableError('connection refused')),
      reserveUser: store.reserveUser.bind(store),
      reserveIp: store.reserveIp.bind(store),
      settleIp: store.settleIp.bind(store),
    });
    const change = makeChange({}, failingSettle);
    await expect(change('app', 'gina', 'wrong', 'new-one', IP)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(audited).toEqual([
      {
        event: 'password_change',
        client_id: 'app',
        client_ip: IP,
        username_key: expect.any(String),
        outcome: 'unavailable',
        reason: 'store_unavailable',
      },
    ]);
  });

  it('a counted refusal carries the directory state in its audit event', async () => {
    validator.expired = true;
    // No validator reveals states here, so the proven password counts as the wrong one it is answered as.
    const change = makeChange();
    await change('app', 'gina', 'right', 'new-one', IP);
    expect(audited).toEqual([
      {
        event: 'password_change',
        client_id: 'app',
        client_ip: IP,
        username_key: expect.any(String),
        outcome: 'failure',
        reason: 'invalid_password',
        validator: 'dir',
        state: 'password_expired',
        password_verified: true,
      },
    ]);
  });
});
