import { describe, expect, it, vi } from 'vitest';
import { ValidatorChain } from '../../src/validators/chain.js';
import {
  ValidatorUnavailableError,
  type PasswordValidator,
  type Principal,
  type RecheckOutcome,
  type ValidationOutcome,
} from '../../src/validators/types.js';

const principal = (subject: string): Principal => ({ subject, groups: ['g'], attributes: {} });

/**
 * A validator answering from a table (a name not in it is unknown-user, a wrong password
 * invalid-password); `fail` makes every call throw it instead.
 */
function fake(
  name: string,
  users: Record<string, string>,
  fail?: unknown,
): PasswordValidator & { validate: ReturnType<typeof vi.fn>; imitateRefusal: ReturnType<typeof vi.fn> } {
  const validate = vi.fn(async (username: string, password: string): Promise<ValidationOutcome> => {
    if (fail !== undefined) throw fail;
    if (!(username in users)) return { valid: false, reason: 'unknown-user' };
    return users[username] === password
      ? { valid: true, principal: principal(`${name}:${username}`) }
      : { valid: false, reason: 'invalid-password' };
  });
  return {
    name,
    type: 'fake',
    validate,
    imitateRefusal: vi.fn(async () => undefined),
    recheck: vi.fn(async (subject: string): Promise<RecheckOutcome> => {
      if (fail !== undefined) throw fail;
      return subject in users ? 'active' : 'gone';
    }),
    health: async () => ({ name, type: 'fake', status: 'up' }),
    close: async () => undefined,
  };
}

describe('ValidatorChain', () => {
  it('stops at the first validator that answers valid and names it', async () => {
    const a = fake('a', { joe: 'pw' });
    const b = fake('b', { joe: 'pw' });
    const outcome = await new ValidatorChain([a, b]).validate('joe', 'pw');
    expect(outcome).toEqual({ valid: true, principal: principal('a:joe'), validator: 'a' });
    expect(b.validate).not.toHaveBeenCalled();
  });

  it('tries the next validator when the first does not know the user', async () => {
    const a = fake('a', {});
    const b = fake('b', { joe: 'pw' });
    await expect(new ValidatorChain([a, b]).validate('joe', 'pw')).resolves.toEqual({
      valid: true,
      principal: principal('b:joe'),
      validator: 'b',
    });
    expect(a.validate).toHaveBeenCalledWith('joe', 'pw');
    expect(new ValidatorChain([a, b], 'any')).toBeDefined();
  });

  it('answers invalid when every validator does', async () => {
    await expect(new ValidatorChain([fake('a', {}), fake('b', { joe: 'other' })]).validate('joe', 'pw')).resolves.toEqual({
      valid: false,
      reason: 'invalid-password',
      validator: 'b',
    });
    await expect(new ValidatorChain([fake('a', {}), fake('b', {})]).validate('joe', 'pw')).resolves.toEqual({
      valid: false,
      reason: 'unknown-user',
    });
  });

  describe('first-known (the default): the first validator that knows the user answers', () => {
    it('stops at a wrong password for a known user: a later validator never answers for that name', async () => {
      const a = fake('a', { joe: 'directory-pw' });
      const b = fake('b', { joe: 'file-pw' });
      await expect(new ValidatorChain([a, b]).validate('joe', 'file-pw')).resolves.toEqual({
        valid: false,
        reason: 'invalid-password',
        validator: 'a',
      });
      await expect(new ValidatorChain([a, b], 'first-known').validate('joe', 'file-pw')).resolves.toEqual({
        valid: false,
        reason: 'invalid-password',
        validator: 'a',
      });
      // The password is never sent to b; b spends what refusing an unknown user costs instead.
      expect(b.validate).not.toHaveBeenCalled();
      expect(b.imitateRefusal).toHaveBeenCalledTimes(2);
      expect(a.imitateRefusal).not.toHaveBeenCalled();
    });

    it('spends the imitated refusals of every validator after the one that stopped', async () => {
      const a = fake('a', {});
      const b = fake('b', { joe: 'pw' });
      const c = fake('c', {});
      const d = fake('d', {});
      await new ValidatorChain([a, b, c, d]).validate('joe', 'wrong');
      expect([a, b, c, d].map((v) => v.imitateRefusal.mock.calls.length)).toEqual([0, 0, 1, 1]);
      expect(c.validate).not.toHaveBeenCalled();
    });

    it('treats a refusal without a known reason as an outage (a bug must not read as unknown-user)', async () => {
      const odd = fake('a', {});
      odd.validate.mockResolvedValueOnce({ valid: false } as unknown as ValidationOutcome);
      await expect(new ValidatorChain([odd, fake('b', { joe: 'pw' })]).validate('joe', 'pw')).rejects.toBeInstanceOf(
        ValidatorUnavailableError,
      );
      odd.validate.mockResolvedValueOnce({ valid: false, reason: 'maybe' } as unknown as ValidationOutcome);
      await expect(new ValidatorChain([odd]).validate('joe', 'pw')).rejects.toBeInstanceOf(ValidatorUnavailableError);
    });
  });

  describe("any (PingFederate's behaviour, opt-in)", () => {
    it('tries the next validator on every refusal, a wrong password included', async () => {
      const a = fake('a', { joe: 'directory-pw' });
      const b = fake('b', { joe: 'file-pw' });
      await expect(new ValidatorChain([a, b], 'any').validate('joe', 'file-pw')).resolves.toEqual({
        valid: true,
        principal: principal('b:joe'),
        validator: 'b',
      });
      expect(b.imitateRefusal).not.toHaveBeenCalled();
    });

    it('still stops at an outage', async () => {
      const outage = new ValidatorUnavailableError('a', 'down');
      const b = fake('b', { joe: 'pw' });
      await expect(new ValidatorChain([fake('a', {}, outage), b], 'any').validate('joe', 'pw')).rejects.toBe(outage);
      expect(b.validate).not.toHaveBeenCalled();
    });
  });

  it('stops and rethrows an outage; never falls through to the next validator', async () => {
    const outage = new ValidatorUnavailableError('a', 'connect ECONNREFUSED');
    const b = fake('b', { joe: 'pw' });
    await expect(new ValidatorChain([fake('a', {}, outage), b]).validate('joe', 'pw')).rejects.toBe(outage);
    expect(b.validate).not.toHaveBeenCalled();
  });

  it('rethrows an outage of a later validator after earlier ones answered invalid', async () => {
    const outage = new ValidatorUnavailableError('b', 'timeout');
    await expect(new ValidatorChain([fake('a', {}), fake('b', {}, outage)]).validate('joe', 'pw')).rejects.toBe(outage);
  });

  it('turns any other error into an outage of that validator, keeping the cause', async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'uid') for (uid=joe)");
    const b = fake('b', { joe: 'pw' });
    const err = await new ValidatorChain([fake('a', {}, bug), b]).validate('joe', 'pw').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidatorUnavailableError);
    expect(err).toMatchObject({ validator: 'a', cause: bug });
    // The message names the kind, not the library's text (which may quote the username).
    expect((err as Error).message).toBe('validator a unavailable: unexpected TypeError');
    expect(b.validate).not.toHaveBeenCalled();
  });

  it('turns a thrown non-Error into an outage', async () => {
    await expect(new ValidatorChain([fake('a', {}, 'boom')]).validate('joe', 'pw')).rejects.toBeInstanceOf(ValidatorUnavailableError);
  });

  it('treats a malformed outcome as an outage, not as invalid', async () => {
    const broken = fake('a', {});
    broken.validate.mockResolvedValueOnce(undefined as unknown as ValidationOutcome);
    await expect(new ValidatorChain([broken]).validate('joe', 'pw')).rejects.toBeInstanceOf(ValidatorUnavailableError);
    broken.validate.mockResolvedValueOnce({ valid: true } as unknown as ValidationOutcome);
    await expect(new ValidatorChain([broken]).validate('joe', 'pw')).rejects.toBeInstanceOf(ValidatorUnavailableError);
  });

  describe('recheck', () => {
    it('delegates to the named validator', async () => {
      const a = fake('a', { joe: 'pw' });
      const b = fake('b', { ann: 'pw' });
      const chain = new ValidatorChain([a, b]);
      await expect(chain.recheck('b', 'ann')).resolves.toBe('active');
      await expect(chain.recheck('b', 'joe')).resolves.toBe('gone');
      expect(a.recheck).not.toHaveBeenCalled();
    });

    it('answers gone for a validator that is not in the chain', async () => {
      await expect(new ValidatorChain([fake('a', { joe: 'pw' })]).recheck('removed', 'joe')).resolves.toBe('gone');
    });

    it('passes unsupported through', async () => {
      const a = fake('a', {});
      vi.mocked(a.recheck).mockResolvedValueOnce('unsupported');
      await expect(new ValidatorChain([a]).recheck('a', 'joe')).resolves.toBe('unsupported');
    });

    it('rethrows outages and wraps other errors and malformed answers', async () => {
      const outage = new ValidatorUnavailableError('a', 'down');
      await expect(new ValidatorChain([fake('a', {}, outage)]).recheck('a', 'joe')).rejects.toBe(outage);
      await expect(new ValidatorChain([fake('a', {}, new Error('bug'))]).recheck('a', 'joe')).rejects.toMatchObject({
        name: 'ValidatorUnavailableError',
        validator: 'a',
      });
      const odd = fake('a', {});
      vi.mocked(odd.recheck).mockResolvedValueOnce('maybe' as RecheckOutcome);
      await expect(new ValidatorChain([odd]).recheck('a', 'joe')).rejects.toBeInstanceOf(ValidatorUnavailableError);
    });
  });

  it('refuses an empty chain and a validator named twice', () => {
    expect(() => new ValidatorChain([])).toThrow(/at least one validator/);
    expect(() => new ValidatorChain([fake('a', {}), fake('a', {})])).toThrow(/a appears twice/);
  });

  it('lists its validators in order', () => {
    expect(new ValidatorChain([fake('x', {}), fake('y', {})]).names).toEqual(['x', 'y']);
  });
});

describe('ValidatorChain: directory states and password change', () => {
  /** A validator with fixed answers. */
  function fixed(name: string, outcome: ValidationOutcome, change?: PasswordValidator['changePassword']): PasswordValidator {
    return {
      name,
      type: 'fixed',
      validate: vi.fn(async () => outcome),
      recheck: async () => 'active',
      ...(change ? { changePassword: change } : {}),
      health: async () => ({ name, type: 'fixed', status: 'up' }),
      close: async () => undefined,
    };
  }

  it("passes a refusal's state and passwordVerified, and a success's warnings, through", async () => {
    const expired = fixed('dir', { valid: false, reason: 'invalid-password', state: 'password_expired', passwordVerified: true });
    await expect(new ValidatorChain([expired]).validate('joe', 'pw')).resolves.toStrictEqual({
      valid: false,
      reason: 'invalid-password',
      validator: 'dir',
      state: 'password_expired',
      passwordVerified: true,
    });
    const locked = fixed('dir', { valid: false, reason: 'invalid-password', state: 'account_locked', passwordVerified: false });
    await expect(new ValidatorChain([locked], 'any').validate('joe', 'pw')).resolves.toStrictEqual({
      valid: false,
      reason: 'invalid-password',
      validator: 'dir',
      state: 'account_locked',
    });
    const warned = fixed('dir', { valid: true, principal: principal('joe'), warnings: { graceLoginsRemaining: 1 } });
    await expect(new ValidatorChain([warned]).validate('joe', 'pw')).resolves.toStrictEqual({
      valid: true,
      principal: principal('joe'),
      validator: 'dir',
      warnings: { graceLoginsRemaining: 1 },
    });
  });

  it('changes the password at the first validator that knows the name, whatever the mode', async () => {
    const unknown = fixed('a', { valid: false, reason: 'unknown-user' }, async () => ({
      changed: false,
      refused: { valid: false, reason: 'unknown-user' },
    }));
    const change = vi.fn(async () => ({ changed: true }) as const);
    const owner = fixed('b', { valid: false, reason: 'invalid-password' }, change);
    const later = fixed('c', { valid: false, reason: 'invalid-password' }, vi.fn());
    await expect(new ValidatorChain([unknown, owner, later], 'any').changePassword('joe', 'old', 'new')).resolves.toStrictEqual({
      changed: true,
      validator: 'b',
    });
    expect(change).toHaveBeenCalledWith('joe', 'old', 'new');
    expect(later.changePassword).not.toHaveBeenCalled();
  });

  it('answers mod_not_allowed from a validator that cannot change passwords, after proving the old one', async () => {
    const file = fixed('file', { valid: true, principal: principal('joe') });
    await expect(new ValidatorChain([file]).changePassword('joe', 'old', 'new')).resolves.toStrictEqual({
      changed: false,
      policy: 'mod_not_allowed',
      detail: 'this directory does not change passwords here',
      validator: 'file',
    });
    const wrong = fixed('file', { valid: false, reason: 'invalid-password' });
    await expect(new ValidatorChain([wrong]).changePassword('joe', 'bad', 'new')).resolves.toStrictEqual({
      changed: false,
      refused: { valid: false, reason: 'invalid-password' },
      validator: 'file',
    });
    await expect(
      new ValidatorChain([fixed('x', { valid: false, reason: 'unknown-user' })]).changePassword('joe', 'old', 'new'),
    ).resolves.toStrictEqual({ changed: false, refused: { valid: false, reason: 'unknown-user' } });
  });
});
