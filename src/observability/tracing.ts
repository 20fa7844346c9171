/**
 * Spans for the data paths (docs/operations.md, "Tracing"), on `@opentelemetry/api` alone: the
 * SDK and the exporter are loaded by tracing-sdk.ts, and only when `tracing.enabled`.
 *
 * A traced request carries its gateway's {@link Tracing} in its OpenTelemetry context (set by
 * the server span, trace-http.ts). Everything below asks the active context: no tracing there
 * (tracing off, or work outside a request such as a health check) means no span object at all,
 * the work just runs. So several gateways in one process never mix their traces.
 *
 * Span attributes carry names the configuration chose (client ids, validator names, route
 * labels), outcomes and error codes, never request data: no username, password, token, secret,
 * header value or error message (a message can quote what the client sent).
 */
import {
  context,
  createContextKey,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';

/** A gateway's tracer, built by tracing-sdk.ts from the `tracing` configuration. */
export interface Tracing {
  readonly tracer: Tracer;
  /** W3C Trace Context (traceparent, tracestate). */
  readonly propagator: TextMapPropagator;
  /** tracing.trustIncomingTraceparent: continue the trace of an incoming traceparent. */
  readonly trustIncoming: boolean;
  /** Exports every span ended so far; a failed export is logged, never thrown. */
  flush(): Promise<void>;
  /** Exports what is left (waiting 2 s at most) and stops exporting; never rejects. */
  shutdown(): Promise<void>;
}

const TRACING = createContextKey('ropc-gateway tracing');

/** The tracing of the request `ctx` belongs to; undefined when it is not traced. */
export function tracingOf(ctx: Context): Tracing | undefined {
  return ctx.getValue(TRACING) as Tracing | undefined;
}

/** `ctx` marked as traced by `tracing`, for the spans below it. */
export function withTracing(ctx: Context, tracing: Tracing): Context {
  return ctx.setValue(TRACING, tracing);
}

/**
 * Runs `run` in a child span `name` of the active span when the request is traced; otherwise
 * just runs it. `describe` adds attributes from the result (an outcome, never a value). A
 * rejection marks the span failed with its error type ({@link markFailed}) and is passed on.
 */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  run: () => Promise<T>,
  describe?: (result: T) => Attributes,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  return spanned(name, attributes, run, describe as ((result: unknown) => Attributes) | undefined, kind) as Promise<T>;
}

/**
 * {@link inSpan} for a call that may answer a value or a promise (the token store's methods,
 * instrument.ts): the span ends at once for a value, when the promise settles otherwise.
 */
export function spanned(
  name: string,
  attributes: Attributes,
  run: () => unknown,
  describe: ((result: unknown) => Attributes) | undefined,
  kind: SpanKind,
): unknown {
  const parent = context.active();
  const tracing = tracingOf(parent);
  if (!tracing) return run();
  const span = tracing.tracer.startSpan(name, { kind, attributes }, parent);
  const ended = (value: unknown): unknown => {
    if (describe) span.setAttributes(describe(value));
    span.end();
    return value;
  };
  const failed = (err: unknown): never => {
    markFailed(span, err);
    span.end();
    throw err;
  };
  let result: unknown;
  try {
    result = context.with(trace.setSpan(parent, span), run);
  } catch (err) {
    return failed(err);
  }
  return result instanceof Promise ? result.then(ended, failed) : ended(result);
}

/** An error code or class name is safe to export; a message is not (it may quote the request). */
const SAFE_TYPE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** Sets the span's status to ERROR and `error.type` to the error's code or class name. */
export function markFailed(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.setAttribute('error.type', errorType(err));
}

function errorType(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && SAFE_TYPE.test(code)) return code;
  return SAFE_TYPE.test(err.constructor.name) ? err.constructor.name : 'Error';
}

/**
 * A directory call of the LDAP validator, named by the step (`what`, a constant of
 * validators/ldap.ts): `ldap.bind` for binds, `ldap.search` for the rest.
 */
export function ldapSpan<T>(what: string, run: () => Promise<T>): Promise<T> {
  return inSpan(what.includes('bind') ? 'ldap.bind' : 'ldap.search', { 'ropc.ldap.step': what }, run, undefined, SpanKind.CLIENT);
}
