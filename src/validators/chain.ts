/**
 * A client's ordered chain of password credential validators (docs/validators.md, "The
 * chain"). "valid" stops, an outage stops, and a refusal depends on the client's
 * `validatorChainMode`:
 *
 * - `first-known` (default): the first validator that knows the username answers. Its
 *   `invalid-password` stops the chain; only `unknown-user` goes on to the next validator. So
 *   a later validator can never answer for a name an earlier one owns (a wrong directory
 *   password never logs in from a users file), and a password is sent only to the validators
 *   up to the one that owns the name. The validators not asked then spend what refusing an
 *   unknown user costs them (`imitateRefusal`), so the time of a refusal does not tell which
 *   validator knew the name.
 * - `any`: PingFederate's behaviour: every refusal tries the next validator.
 *
 * An outage is never skipped over: if the directory is down, falling through to a weaker
 * validator (say, a local file holding a stale password) would let the outage change who can
 * log in. And a validator that throws anything else has a bug; that must not read as a wrong
 * password either (no `invalid_grant`, no lockout count), so it becomes an outage too.
 */
import {
  ValidatorUnavailableError,
  type DirectoryState,
  type PasswordChangeOutcome,
  type PasswordValidator,
  type PasswordWarnings,
  type Principal,
  type RefusalReason,
  type RecheckOutcome,
  type ValidationOutcome,
} from './types.js';

const RECHECK_OUTCOMES: ReadonlySet<string> = new Set<RecheckOutcome>(['active', 'gone', 'unsupported']);

/** The chain's answer: which validator accepted the credentials, or none did. */
export type ChainOutcome =
  | { readonly valid: true; readonly principal: Principal; readonly validator: string; readonly warnings?: PasswordWarnings }
  /**
   * `reason` and `validator` say who refused, for the audit event: the validator that knew
   * the name and refused its password, or `unknown-user` when none knew it. `state` and
   * `passwordVerified` are the refusing validator's (types.ts); only a verified password's
   * state may reach the client, and only when that validator reveals it (the grants decide).
   */
  | {
      readonly valid: false;
      readonly reason?: RefusalReason;
      readonly validator?: string;
      readonly state?: DirectoryState;
      readonly passwordVerified?: boolean;
    };

/** A password change's answer, with the validator that owns the user when one did. */
export type ChainChangeOutcome = PasswordChangeOutcome & { readonly validator?: string };

export type ChainMode = 'first-known' | 'any';

const REFUSAL_REASONS: ReadonlySet<unknown> = new Set<RefusalReason>(['unknown-user', 'invalid-password']);

/** Built once at startup per client; holds no per-request state. */
export class ValidatorChain {
  readonly #validators: readonly PasswordValidator[];
  readonly #byName: ReadonlyMap<string, PasswordValidator>;
  readonly #mode: ChainMode;

  /** @throws Error when the chain is empty or names a validator twice. */
  constructor(validators: readonly PasswordValidator[], mode: ChainMode = 'first-known') {
    if (validators.length === 0) throw new Error('a validator chain needs at least one validator');
    const byName = new Map<string, PasswordValidator>();
    for (const v of validators) {
      if (byName.has(v.name)) throw new Error(`validator ${v.name} appears twice in a chain`);
      byName.set(v.name, v);
    }
    this.#validators = [...validators];
    this.#byName = byName;
    this.#mode = mode;
  }

  /** The validators' names, in chain order. */
  get names(): readonly string[] {
    return this.#validators.map((v) => v.name);
  }

  /**
   * Tries the validators in order until one answers valid, or (first-known) one refuses a
   * name it knows.
   * @throws ValidatorUnavailableError when a validator is down or fails unexpectedly; the
   *   validators after it are not tried.
   */
  async validate(username: string, password: string): Promise<ChainOutcome> {
    let refused: ChainOutcome | undefined;
    for (const [i, validator] of this.#validators.entries()) {
      // Typed, but checked anyway: a malformed answer is a bug, and a bug is not "invalid".
      const outcome: ValidationOutcome | undefined = await guarded(validator, () => validator.validate(username, password));
      if (outcome?.valid === true && outcome.principal !== undefined) {
        return {
          valid: true,
          principal: outcome.principal,
          validator: validator.name,
          ...(outcome.warnings ? { warnings: outcome.warnings } : {}),
        };
      }
      if (outcome?.valid !== false || !REFUSAL_REASONS.has(outcome.reason)) {
        throw new ValidatorUnavailableError(validator.name, 'returned a malformed outcome');
      }
      if (this.#mode === 'first-known' && outcome.reason === 'invalid-password') {
        await this.#imitateRest(i + 1);
        return refusedWith(outcome, validator.name);
      }
      if (outcome.reason === 'invalid-password') refused ??= refusedWith(outcome, validator.name);
    }
    return refused ?? { valid: false, reason: 'unknown-user' };
  }

  /**
   * Changes a password at the validator that owns the name, asked in chain order as in
   * `first-known` mode whatever the client's mode (a password lives in one place): the first
   * whose answer is not `unknown-user` answers. A validator without `changePassword` proves
   * the old password with `validate` and answers `mod_not_allowed` (it cannot change it).
   * @throws ValidatorUnavailableError as for {@link validate}.
   */
  async changePassword(username: string, oldPassword: string, newPassword: string): Promise<ChainChangeOutcome> {
    for (const [i, validator] of this.#validators.entries()) {
      const outcome: PasswordChangeOutcome = await guarded(validator, async () => {
        if (validator.changePassword) return validator.changePassword(username, oldPassword, newPassword);
        const check = await validator.validate(username, oldPassword);
        return check.valid
          ? { changed: false, policy: 'mod_not_allowed', detail: 'this directory does not change passwords here' }
          : { changed: false, refused: check };
      });
      if (!outcome.changed && 'refused' in outcome && outcome.refused.reason === 'unknown-user') continue;
      await this.#imitateRest(i + 1);
      return { ...outcome, validator: validator.name };
    }
    return { changed: false, refused: { valid: false, reason: 'unknown-user' } };
  }

  /** The cost of the refusals the validators after `from` would have answered. */
  async #imitateRest(from: number): Promise<void> {
    for (const validator of this.#validators.slice(from)) {
      if (validator.imitateRefusal) await guarded(validator, () => validator.imitateRefusal!());
    }
  }

  /**
   * Re-checks a subject with the validator that authenticated it (refresh: docs/validators.md, "Refresh").
   * A validator no longer in the chain answers `gone`: its users cannot be re-checked.
   * @throws ValidatorUnavailableError as for {@link validate}.
   */
  async recheck(validatorName: string, subject: string): Promise<RecheckOutcome> {
    const validator = this.#byName.get(validatorName);
    if (validator === undefined) return 'gone';
    const outcome = await guarded(validator, () => validator.recheck(subject));
    if (!RECHECK_OUTCOMES.has(outcome)) throw new ValidatorUnavailableError(validator.name, 'returned a malformed recheck outcome');
    return outcome;
  }
}

/** The chain's refusal for a validator's: its reason, and its state when it reported one. */
function refusedWith(outcome: ValidationOutcome & { valid: false }, validator: string): ChainOutcome {
  return {
    valid: false,
    reason: 'invalid-password',
    validator,
    ...(outcome.state ? { state: outcome.state } : {}),
    ...(outcome.passwordVerified === true ? { passwordVerified: true } : {}),
  };
}

/** Runs a validator call; anything thrown other than an outage is turned into one. */
async function guarded<T>(validator: PasswordValidator, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ValidatorUnavailableError) throw err;
    // The cause keeps the stack for the log; the message names only the error's kind, since a
    // library's message may quote the request (e.g. an LDAP filter with the username).
    const kind = err instanceof Error ? err.name : typeof err;
    throw new ValidatorUnavailableError(validator.name, `unexpected ${kind}`, { cause: err });
  }
}
