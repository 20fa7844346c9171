/**
 * Metrics around the backends without changing their interfaces: a validator wrapper that
 * times each `validate` by outcome, and a token store wrapper that times every operation.
 * Built once at startup in the composition root.
 */
import { ValidatorUnavailableError, type PasswordValidator } from '../validators/types.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { OutageLog } from './outage-log.js';

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/**
 * The same validator, with `ropc_validator_duration_seconds{validator,outcome}` recorded per
 * call and, given a logger, one line when it answers again after an outage (a login or a health
 * check that was unavailable, then one that got an answer).
 */
export function instrumentValidator(validator: PasswordValidator, metrics: Metrics, logger?: Logger): PasswordValidator {
  const outage = logger ? new OutageLog(logger, `validator ${validator.name}`, { validator: validator.name }) : undefined;
  return {
    name: validator.name,
    type: validator.type,
    async validate(username, password) {
      const start = process.hrtime.bigint();
      try {
        const outcome = await validator.validate(username, password);
        metrics.observeValidator(validator.name, outcome?.valid === true ? 'valid' : 'invalid', seconds(start));
        outage?.up();
        return outcome;
      } catch (err) {
        metrics.observeValidator(validator.name, 'unavailable', seconds(start));
        if (err instanceof ValidatorUnavailableError) outage?.down();
        throw err;
      }
    },
    ...(validator.imitateRefusal ? { imitateRefusal: () => validator.imitateRefusal!() } : {}),
    ...(validator.changePassword ? { changePassword: (username: string, oldPassword: string, newPassword: string) => validator.changePassword!(username, oldPassword, newPassword) } : {}),
    recheck: (subject) => validator.recheck(subject),
    async health() {
      const health = await validator.health();
      if (health.status === 'up') outage?.up();
      else outage?.down();
      return health;
    },
    close: () => validator.close(),
  };
}

/** Wraps every validator of a registry (keeps names and order). */
export function instrumentValidators(validators: ReadonlyMap<string, PasswordValidator>, metrics: Metrics, logger?: Logger): Map<string, PasswordValidator> {
  return new Map([...validators].map(([name, v]) => [name, instrumentValidator(v, metrics, logger)]));
}

/** Operations not timed: closing is not traffic. */
const UNTIMED = new Set<PropertyKey>(['close', 'constructor']);

/**
 * The same store, with `ropc_store_duration_seconds{operation,outcome}` and
 * `ropc_store_errors_total{operation}` (any rejection: an outage, a timeout) recorded for every
 * promise-returning method. A Proxy,
 * so methods added to the store interface later are timed without touching this file.
 */
export function instrumentStore<T extends object>(store: T, metrics: Metrics): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || UNTIMED.has(property) || typeof property !== 'string') return value;
      return function timed(this: unknown, ...args: unknown[]): unknown {
        const start = process.hrtime.bigint();
        const result: unknown = Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
        if (!(result instanceof Promise)) return result;
        return result.then(
          (v: unknown) => {
            metrics.observeStore(property, 'ok', seconds(start));
            return v;
          },
          (err: unknown) => {
            metrics.observeStore(property, 'error', seconds(start));
            throw err;
          },
        );
      };
    },
  });
}
