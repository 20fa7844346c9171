/**
 * Spans for the steps of a password login and a grant (docs/operations.md, "Tracing"), put
 * around the pieces the composition root hands to the token endpoint, so the endpoint, the
 * grants and security/login.ts stay as they are. Each wrapper returns what it wraps unchanged
 * when tracing is off.
 */
import type { Attributes } from '@opentelemetry/api';
import type { GrantHandler } from '../token-endpoint/grants/types.js';
import type { Attempt, Lockout } from '../security/lockout.js';
import type { ChainOutcome, ValidatorChain } from '../validators/chain.js';
import { inSpan, type Tracing } from './tracing.js';

/**
 * `target` with `method` replaced by `replacement`; every other member read from (and bound
 * to) the target itself, whose private fields a Proxy receiver could not reach.
 */
function replacing<T extends object>(target: T, method: keyof T & string, replacement: unknown): T {
  return new Proxy(target, {
    get(t, property) {
      if (property === method) return replacement;
      const value: unknown = Reflect.get(t, property, t);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
    },
  });
}

/** The grant, its `handle` a `grant <type>` span (the grant's steps are its children). */
export function tracedGrant(tracing: Tracing | undefined, grant: GrantHandler): GrantHandler {
  if (!tracing) return grant;
  const name = `grant ${grant.grantType}`;
  const attributes = { 'ropc.grant_type': grant.grantType };
  return { grantType: grant.grantType, handle: (request) => inSpan(name, attributes, () => grant.handle(request)) };
}

/** The chain, its `validate` a `validator_chain` span with the chain's answer (which validator, valid or why not). */
export function tracedChain(tracing: Tracing | undefined, chain: ValidatorChain): ValidatorChain {
  if (!tracing) return chain;
  const validate = (username: string, password: string): Promise<ChainOutcome> =>
    inSpan('validator_chain', {}, () => chain.validate(username, password), describeChain);
  return replacing(chain, 'validate', validate);
}

function describeChain(outcome: ChainOutcome): Attributes {
  return {
    'ropc.validator.outcome': outcome.valid ? 'valid' : 'invalid',
    ...(outcome.validator ? { 'ropc.validator.name': outcome.validator } : {}),
    ...(!outcome.valid && outcome.reason ? { 'ropc.validator.reason': outcome.reason } : {}),
  };
}

/**
 * The lockout, its `reserve` a `lockout.reserve` span (admitted, or why not) and an admitted
 * attempt's `settle` a `lockout.settle` span (success, failure or released).
 */
export function tracedLockout(tracing: Tracing | undefined, lockout: Lockout): Lockout {
  if (!tracing) return lockout;
  const reserve = async (username: string, ip: string): Promise<Attempt> => {
    const attempt = await inSpan('lockout.reserve', {}, () => lockout.reserve(username, ip), describeAttempt);
    if (!attempt.admitted) return attempt;
    return {
      admitted: true,
      settle: (result) => inSpan('lockout.settle', { 'ropc.lockout.result': result }, () => attempt.settle(result)),
    };
  };
  return replacing(lockout, 'reserve', reserve);
}

function describeAttempt(attempt: Attempt): Attributes {
  return attempt.admitted ? { 'ropc.lockout.admitted': true } : { 'ropc.lockout.admitted': false, 'ropc.lockout.reason': attempt.reason };
}
