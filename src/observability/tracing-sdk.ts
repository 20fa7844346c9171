/**
 * Starts OpenTelemetry tracing from the `tracing` configuration (docs/operations.md,
 * "Tracing"). The SDK, the OTLP/HTTP exporter and the context manager are imported here
 * dynamically, only when `tracing.enabled`: with tracing off none of them is loaded.
 *
 * - spans are batched and exported as OTLP/HTTP JSON to `tracing.endpoint` (extra headers from
 *   OTEL_EXPORTER_OTLP_HEADERS, read by the exporter); an unreachable collector costs dropped
 *   spans and a rate-limited warning, never a failed request;
 * - sampling: `tracing.sampleRatio` of new traces; a trusted parent's sampled flag decides for
 *   the traces it continues (ParentBased);
 * - shutdown exports what is left, waiting {@link SHUTDOWN_WAIT_MS} at most;
 * - the context follows each request through its awaits with AsyncLocalStorage, registered once
 *   per process (the first gateway that enables tracing) and never removed.
 */
import { context, diag, DiagLogLevel } from '@opentelemetry/api';
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from './logger.js';
import type { Tracing } from './tracing.js';

/** Largest number of spans waiting for export; beyond it new spans are dropped (the SDK's default). */
const MAX_QUEUE = 2048;
/** How long shutdown waits for the last spans to be exported. */
const SHUTDOWN_WAIT_MS = 2000;
/** The SDK's diagnostics (export failures) reach the log at most this often. */
const DIAG_LOG_INTERVAL_MS = 60_000;

let contextManagerRegistered = false;
let diagRegistered = false;

/** The gateway's tracing, or undefined when `tracing.enabled` is false (nothing is imported then). */
export async function startTracing(config: GatewayConfig['tracing'], logger: Logger): Promise<Tracing | undefined> {
  if (!config.enabled) return undefined;
  const [sdk, { OTLPTraceExporter }, { resourceFromAttributes }, { W3CTraceContextPropagator }, { AsyncLocalStorageContextManager }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/core'),
      import('@opentelemetry/context-async-hooks'),
    ]);
  if (!contextManagerRegistered) {
    contextManagerRegistered = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    if (!contextManagerRegistered)
      logger.warn('tracing: another OpenTelemetry context manager is registered in this process; spans may lose their parents');
  }
  const warn = exportWarning(logger);
  if (!diagRegistered) {
    // The SDK reports failed exports through its global diagnostics logger.
    diagRegistered = true;
    diag.setLogger({ error: warn, warn, info: () => undefined, debug: () => undefined, verbose: () => undefined }, DiagLogLevel.WARN);
  }
  const exporter = new OTLPTraceExporter({ url: config.endpoint });
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter, { maxQueueSize: MAX_QUEUE })],
  });
  logger.info(
    {
      endpoint: withoutCredentials(config.endpoint),
      sampleRatio: config.sampleRatio,
      trustIncomingTraceparent: config.trustIncomingTraceparent,
    },
    'tracing: exporting spans over OTLP/HTTP',
  );
  return {
    tracer: provider.getTracer('ropc-gateway'),
    propagator: new W3CTraceContextPropagator(),
    trustIncoming: config.trustIncomingTraceparent,
    flush: () => provider.forceFlush().catch((err: unknown) => warn(describe(err))),
    // A collector that does not answer must not hold up the process's exit.
    shutdown: () =>
      Promise.race([
        provider.shutdown().catch((err: unknown) => warn(describe(err))),
        new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_WAIT_MS).unref()),
      ]),
  };
}

/** The URL without user info or query, which may hold a credential. */
function withoutCredentials(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** A failed export as one warning a minute at most: a collector that is down must show in the log without flooding it. */
function exportWarning(logger: Logger): (message: unknown) => void {
  let last = 0;
  return (message) => {
    const now = Date.now();
    if (now - last < DIAG_LOG_INTERVAL_MS) return;
    last = now;
    logger.warn({ event: 'tracing_export' }, `tracing: spans not exported: ${String(message).slice(0, 200)}`);
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
}
