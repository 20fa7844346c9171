/**
 * Checking a user's password for a client: the one place every password login goes through —
 * the password grant and the Basic bridge on the resource path — through the brute-force gate
 * (password-gate.ts) that a password change's old password goes through too, so lockout.ts
 * applies to all of them alike. The gate's steps, and what counts as a failure, are described
 * there; a login's own step is the chain's `validate`, and a valid answer is the proof.
 */
import type { ChainOutcome, ValidatorChain } from '../validators/chain.js';
import { createPasswordGate, type LoginProtection } from './password-gate.js';

export type { LockoutEvent, LoginProtection } from './password-gate.js';

/**
 * Validates `username`/`password` with the client's validator chain. Resolves `{valid:false}`
 * for every refusal — wrong password, unknown user, locked user, IP over budget — carrying
 * the refusing validator's reason and directory state when it reported one (what a client may
 * be told of it is decided by the grant: token-endpoint/directory-answers.ts). Throws
 * TemporarilyUnavailableError when the user's remaining attempts are all in flight, and
 * ValidatorUnavailableError or StoreUnavailableError on an outage; none counts as a failed login.
 */
export type PasswordLogin = (
  clientId: string,
  username: string,
  password: string,
  clientIp: string,
  context?: LoginContext,
) => Promise<ChainOutcome>;

/** A login's valid outcome. */
export type ValidLogin = Extract<ChainOutcome, { valid: true }>;

/** Where a login came from, for its audit event, and what follows a valid one. */
export interface LoginContext {
  readonly via?: 'password_grant' | 'basic_bridge';
  readonly requestId?: string;
  /**
   * Called with a valid outcome before the login resolves, its store commands sent with the
   * lockout's settlement in one write (password-gate.ts `onProven`): the password grant
   * creates its token family here. A rejection fails the login.
   */
  readonly onValid?: (outcome: ValidLogin) => Promise<void>;
}

const REFUSED: ChainOutcome = Object.freeze({ valid: false });

/** The login function of the gateway. */
export function createPasswordLogin(chainFor: (clientId: string) => ValidatorChain, protection: LoginProtection): PasswordLogin {
  const guess = createPasswordGate(chainFor, protection);
  return (clientId, username, password, clientIp, context = {}) =>
    guess<ChainOutcome>({
      event: 'login',
      clientId,
      username,
      clientIp,
      ...(context.via ? { via: context.via } : {}),
      ...(context.requestId ? { requestId: context.requestId } : {}),
      refused: REFUSED,
      step: (chain, name) => chain.validate(name, password),
      ...(context.onValid ? { onProven: whenValid(context.onValid) } : {}),
      verdict: (outcome) =>
        outcome.valid
          ? { proven: true, event: { outcome: 'success', sub: outcome.principal.subject, validator: outcome.validator } }
          : { ...outcome, proven: false },
    });
}

function whenValid(onValid: (outcome: ValidLogin) => Promise<void>): (outcome: ChainOutcome) => Promise<void> {
  return (outcome) => (outcome.valid ? onValid(outcome) : Promise.resolve());
}
