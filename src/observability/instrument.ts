/**
 * Metrics around the backends without changing their interfaces: a validator wrapper that
 * times each `validate` by outcome, and a token store wrapper that times every operation.
 * With `traced` (tracing.enabled), each of those calls is also a span of the request that
 * made it (tracing.ts). Built once at startup in the composition root.
 */
import { SpanKind } from '@opentelemetry/api';
import { ValidatorUnavailableError, type PasswordValidator, type ValidationOutcome } from '../validators/types.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { OutageLog } from './outage-log.js';
import { inSpan, spanned } from './tracing.js';

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/**
 * The same validator, with `ropc_validator_duration_seconds{validator,outcome}` recorded per
 * call and, given a logger, one line when it answers again after an outage (a login or a health
 * check that was unavailable, then one that got an answer).
 */
export function instrumentValidator(validator: PasswordValidator, metrics: Metrics, logger?: Logger, traced = false): PasswordValidator {
  const outage = logger ? new OutageLog(logger, `validator ${validator.name}`, { validator: validator.name }) : undefined;
  const spanAttributes = { 'ropc.validator.name': validator.name, 'ropc.validator.type': validator.type };
  const validate = traced
    ? (username: string, password: string) =>
        inSpan('validator.validate', spanAttributes, () => validator.validate(username, password), describeOutcome)
    : (username: string, password: string) => validator.validate(username, password);
  const recheck = traced
    ? (subject: string) =>
        inSpan(
          'validator.recheck',
          spanAttributes,
          () => validator.recheck(subject),
          (r) => ({ 'ropc.validator.recheck': r }),
        )
    : (subject: string) => validator.recheck(subject);
  return {
    name: validator.name,
    type: validator.type,
    async validate(username, password) {
      const start = process.hrtime.bigint();
      try {
        const outcome = await validate(username, password);
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
    ...(validator.changePassword
      ? {
          changePassword: (username: string, oldPassword: string, newPassword: string) =>
            validator.changePassword!(username, oldPassword, newPassword),
        }
      : {}),
    recheck,
    async health() {
      const health = await validator.health();
      if (health.status === 'up') outage?.up();
      else outage?.down();
      return health;
    },
    close: () => validator.close(),
  };
}

/** A validator's answer as span attributes: valid or not, and why not (never who). */
function describeOutcome(outcome: ValidationOutcome): Record<string, string> {
  if (outcome.valid) return { 'ropc.validator.outcome': 'valid' };
  return {
    'ropc.validator.outcome': 'invalid',
    'ropc.validator.reason': outcome.reason,
    ...(outcome.state ? { 'ropc.validator.state': outcome.state } : {}),
  };
}

/** Wraps every validator of a registry (keeps names and order). */
export function instrumentValidators(
  validators: ReadonlyMap<string, PasswordValidator>,
  metrics: Metrics,
  logger?: Logger,
  traced = false,
): Map<string, PasswordValidator> {
  return new Map([...validators].map(([name, v]) => [name, instrumentValidator(v, metrics, logger, traced)]));
}

/** Operations not timed: closing is not traffic. */
const UNTIMED = new Set<PropertyKey>(['close', 'constructor']);

/**
 * The same store, with `ropc_store_duration_seconds{operation,outcome}` and
 * `ropc_store_errors_total{operation}` (any rejection: an outage, a timeout) recorded for every
 * promise-returning method, and with `traced` a `store.<operation>` span for each call a
 * traced request makes. A Proxy,
 * so methods added to the store interface later are timed without touching this file.
 */
export function instrumentStore<T extends object>(store: T, metrics: Metrics, traced = false): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || UNTIMED.has(property) || typeof property !== 'string') return value;
      const method = value as (...a: unknown[]) => unknown;
      return function timed(this: unknown, ...args: unknown[]): unknown {
        const start = process.hrtime.bigint();
        const result: unknown = traced
          ? tracedCall(`store.${property}`, property, () => Reflect.apply(method, target, args))
          : Reflect.apply(method, target, args);
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

/**
 * `call` in a CLIENT span when the active request is traced: ended when its promise settles
 * (at once for a value). Outside a traced request (a health check, the revocation feed) no span.
 */
export function tracedCall(name: string, operation: string, call: () => unknown): unknown {
  return spanned(name, { 'ropc.store.operation': operation }, call, undefined, SpanKind.CLIENT);
}
