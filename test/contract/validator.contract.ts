/**
 * The contract every password credential validator must pass (docs/validators.md; one contract suite per interface):
 * run it against each implementation (file, LDAP, HTTP…). A new backend is done when its
 * suite passes. It only uses the {@link PasswordValidator} interface, so it stays
 * backend-neutral.
 *
 * The validator under test must be configured case-insensitive (`caseSensitive: false`, the
 * default). The fixture must hold at least two users, one of whose passwords contains `&=+%`
 * and a non-ASCII character (URL-encoding and UTF-8 trouble spots).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PasswordValidator } from '../../src/validators/types.js';

export interface ContractUser {
  /** The username as the backend holds it. */
  readonly username: string;
  readonly password: string;
  /** The principal's expected `subject`. */
  readonly subject: string;
  /** The principal's expected groups, in any order. */
  readonly groups: readonly string[];
}

export interface ContractFixture {
  readonly validator: PasswordValidator;
  readonly users: readonly ContractUser[];
  /** Removes a user from the backend; resolves once the validator sees the removal. */
  removeUser(username: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** A username with its ASCII letters and digits in full-width forms (NFKC folds them back). */
export function fullWidth(username: string): string {
  return username.replace(/[!-~]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0));
}

/** Registers the validator contract as a `describe` block. */
export function validatorContract(name: string, make: () => Promise<ContractFixture>): void {
  describe(`PasswordValidator contract: ${name}`, () => {
    let fixture: ContractFixture;
    let validator: PasswordValidator;
    const first = (): ContractUser => fixture.users[0]!;

    beforeAll(async () => {
      fixture = await make();
      validator = fixture.validator;
      expect(fixture.users.length, 'the fixture needs at least two users').toBeGreaterThanOrEqual(2);
    });

    afterAll(async () => {
      await validator?.close();
      await fixture?.cleanup();
    });

    it('names itself and reports health without throwing', async () => {
      expect(validator.name).toMatch(/\S/);
      expect(validator.type).toMatch(/\S/);
      const health = await validator.health();
      expect(health).toMatchObject({ name: validator.name, type: validator.type, status: 'up' });
    });

    it('accepts the right password with the subject and groups of the user', async () => {
      for (const user of fixture.users) {
        const outcome = await validator.validate(user.username, user.password);
        expect(outcome.valid, user.username).toBe(true);
        if (!outcome.valid) continue;
        expect(outcome.principal.subject).toBe(user.subject);
        expect([...outcome.principal.groups].sort()).toEqual([...user.groups].sort());
        expect(typeof outcome.principal.attributes).toBe('object');
      }
    });

    it('rejects a wrong password as invalid-password', async () => {
      const user = first();
      await expect(validator.validate(user.username, `${user.password}x`)).resolves.toEqual({ valid: false, reason: 'invalid-password' });
      await expect(validator.validate(user.username, `${user.password.toUpperCase()}X`)).resolves.toEqual({
        valid: false,
        reason: 'invalid-password',
      });
    });

    it("rejects another user's password", async () => {
      const [a, b] = fixture.users;
      await expect(validator.validate(a!.username, b!.password)).resolves.toEqual({ valid: false, reason: 'invalid-password' });
    });

    // The chain (src/validators/chain.ts) goes on only past an unknown user: every backend must tell.
    it('rejects an unknown user as unknown-user', async () => {
      await expect(validator.validate('no-such-user-4711', first().password)).resolves.toEqual({ valid: false, reason: 'unknown-user' });
    });

    it('rejects an empty password (never an unauthenticated bind)', async () => {
      await expect(validator.validate(first().username, '')).resolves.toMatchObject({ valid: false });
    });

    it('resolves usernames differing only in case or width (NFKC) to the same user', async () => {
      const user = first();
      const spellings = [user.username.toUpperCase(), fullWidth(user.username), fullWidth(user.username.toUpperCase())];
      for (const spelling of spellings) {
        const outcome = await validator.validate(spelling, user.password);
        expect(outcome.valid, JSON.stringify(spelling)).toBe(true);
        if (outcome.valid) expect(outcome.principal.subject).toBe(user.subject);
      }
    });

    it('never accepts injection-looking usernames', async () => {
      const u = first().username;
      const usernames = [
        '*',
        `${u}*`,
        `${u.slice(0, 1)}*`,
        `${u})(uid=*`,
        '*)(|(uid=*',
        `*)(|(uid=*))(|(uid=*`,
        `${u}\u0000`,
        '\u0000',
        `${u}\\2a`,
      ];
      const passwords = [first().password, '*'];
      for (const username of usernames) {
        for (const password of passwords) {
          await expect(validator.validate(username, password), JSON.stringify(username)).resolves.toMatchObject({ valid: false });
        }
      }
    });

    it('handles passwords with &=+% and non-ASCII characters', async () => {
      const special = fixture.users.find((u) => /[&=+%]/.test(u.password) && /[^\p{ASCII}]/u.test(u.password));
      expect(special, 'the fixture must include a user whose password has &=+% and non-ASCII characters').toBeDefined();
      const outcome = await validator.validate(special!.username, special!.password);
      expect(outcome.valid).toBe(true);
      // A decoded or re-encoded form of it is a different password.
      await expect(validator.validate(special!.username, encodeURIComponent(special!.password))).resolves.toMatchObject({ valid: false });
      await expect(validator.validate(special!.username, `${special!.password.normalize('NFD')}\u0301`)).resolves.toMatchObject({
        valid: false,
      });
    });

    it('answers concurrent logins independently', async () => {
      const [a, b] = fixture.users;
      const outcomes = await Promise.all([
        validator.validate(a!.username, a!.password),
        validator.validate(b!.username, `${b!.password}-wrong`),
        validator.validate(b!.username, b!.password),
        validator.validate(a!.username, b!.password),
      ]);
      expect(outcomes.map((o) => o.valid)).toEqual([true, false, true, false]);
    });

    it('re-checks an existing subject as active and an unknown one as gone', async () => {
      await expect(validator.recheck(first().subject)).resolves.toBe('active');
      await expect(validator.recheck('no-such-user-4711')).resolves.toBe('gone');
    });

    it('re-checks a removed user as gone and no longer accepts its password (last: it mutates the fixture)', async () => {
      const removed = fixture.users[fixture.users.length - 1]!;
      await expect(validator.recheck(removed.subject)).resolves.toBe('active');
      await fixture.removeUser(removed.username);
      await expect(validator.recheck(removed.subject)).resolves.toBe('gone');
      await expect(validator.validate(removed.username, removed.password)).resolves.toEqual({ valid: false, reason: 'unknown-user' });
      // The others are untouched.
      await expect(validator.recheck(first().subject)).resolves.toBe('active');
    });
  });
}
