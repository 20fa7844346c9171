/**
 * src/observability/tracing.ts with the real SDK and an in-memory exporter: outside a traced
 * context `inSpan` makes no span and only runs its work; inside, a child span that ends with the
 * work; a failure is marked by its error code or class name, never its message.
 */
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidGrantError } from '../../src/oauth/errors.js';
import { inSpan, ldapSpan, tracingOf, withTracing, type Tracing } from '../../src/observability/tracing.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracing: Tracing = {
  tracer: provider.getTracer('test'),
  propagator: new W3CTraceContextPropagator(),
  trustIncoming: false,
  flush: () => provider.forceFlush(),
  shutdown: () => provider.shutdown(),
};

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterEach(() => exporter.reset());

/** Runs `work` as a traced request would: under a root span, with the tracing in the context. */
function traced<T>(work: () => Promise<T>): Promise<T> {
  const root = tracing.tracer.startSpan('root');
  return context.with(trace.setSpan(withTracing(ROOT_CONTEXT, tracing), root), work).finally(() => root.end());
}

describe('inSpan', () => {
  it('outside a traced request runs the work and makes no span', async () => {
    expect(tracingOf(context.active())).toBeUndefined();
    await expect(inSpan('step', { a: 1 }, async () => 42)).resolves.toBe(42);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('inside one makes a child span of the active span, with the attributes its result describes', async () => {
    const value = await traced(() =>
      inSpan(
        'step',
        { 'ropc.x': 'y' },
        async () => inSpan('inner', {}, async () => 7),
        (v) => ({ 'ropc.result': v }),
      ),
    );
    expect(value).toBe(7);
    const spans = exporter.getFinishedSpans();
    const byName = new Map(spans.map((s) => [s.name, s]));
    expect([...byName.keys()].sort()).toEqual(['inner', 'root', 'step']);
    expect(byName.get('step')?.parentSpanContext?.spanId).toBe(byName.get('root')?.spanContext().spanId);
    expect(byName.get('inner')?.parentSpanContext?.spanId).toBe(byName.get('step')?.spanContext().spanId);
    expect(byName.get('step')?.attributes).toEqual({ 'ropc.x': 'y', 'ropc.result': 7 });
  });

  it('marks a failure with the OAuth error code, a safe error code or the class name, never the message', async () => {
    class DirectoryDown extends Error {}
    const failures: [Error, string][] = [
      [new InvalidGrantError('password hunter2 was wrong'), 'invalid_grant'],
      [Object.assign(new Error('connect to secret-host failed'), { code: 'ECONNREFUSED' }), 'ECONNREFUSED'],
      [Object.assign(new Error('x'), { code: 'user typed hunter2 here' }), 'Error'],
      [new DirectoryDown('bind as cn=admin with hunter2'), 'DirectoryDown'],
    ];
    for (const [err, type] of failures) {
      await expect(traced(() => inSpan('step', {}, () => Promise.reject(err)))).rejects.toBe(err);
      const step = exporter.getFinishedSpans().find((s) => s.name === 'step');
      expect(step?.status.code, type).toBe(2);
      expect(step?.attributes, type).toEqual({ 'error.type': type });
      expect(step?.events, type).toEqual([]);
      exporter.reset();
    }
  });

  it('passes on a synchronous throw of the work, after ending its span', async () => {
    const boom = new TypeError('sync');
    await expect(
      traced(async () =>
        inSpan('step', {}, () => {
          throw boom;
        }),
      ),
    ).rejects.toBe(boom);
    expect(exporter.getFinishedSpans().find((s) => s.name === 'step')?.attributes).toEqual({ 'error.type': 'TypeError' });
  });
});

describe('ldapSpan', () => {
  it('names a bind step ldap.bind and any other ldap.search, as client spans with the step', async () => {
    await traced(async () => {
      await ldapSpan('binding the user', async () => undefined);
      await ldapSpan('direct bind', async () => undefined);
      await ldapSpan('searching the user', async () => undefined);
    });
    const steps = exporter.getFinishedSpans().filter((s) => s.name !== 'root');
    expect(steps.map((s) => [s.name, s.kind, s.attributes['ropc.ldap.step']])).toEqual([
      ['ldap.bind', 2, 'binding the user'],
      ['ldap.bind', 2, 'direct bind'],
      ['ldap.search', 2, 'searching the user'],
    ]);
  });
});
