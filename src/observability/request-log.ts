/**
 * The completion line: one JSON line per request on the public port (docs/operations.md,
 * "Logs"), the one log line on every request's path. It is written here, without pino's
 * per-line work (walking the object, the redaction pass, a fresh ISO timestamp), but as the
 * same JSON pino writes for `logger.info(fields, 'request')`, in the same key order and through
 * the logger's own destination (its batching, flush at exit). What it may carry is fixed by
 * {@link CompletionFields}: no field is a secret or a header value, so redaction has nothing
 * to do on this line; test/unit/request-log.test.ts compares it with pino's output.
 * docs/performance.md, "The completion log line", says what it saves.
 */
import { pino, type Logger } from 'pino';

/** The fields of a completion line, in the order they are written. */
export interface CompletionFields {
  readonly reqId: string;
  readonly method: string | undefined;
  readonly kind: string;
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  readonly clientId?: string | undefined;
  readonly sub?: string | undefined;
  readonly grantType?: string | undefined;
  readonly error?: string | undefined;
  readonly detail?: string | undefined;
  readonly reason?: string | undefined;
}

let isoMs = -1;
let iso = '';

/** `new Date().toISOString()`, computed once per millisecond (a completion line each is many per millisecond under load). */
export function isoNow(now = Date.now()): string {
  if (now !== isoMs) {
    isoMs = now;
    iso = new Date(now).toISOString();
  }
  return iso;
}

/** pino's timestamp option for {@link isoNow}: the same `"time"` field as pino.stdTimeFunctions.isoTime. */
export const isoTime = (): string => `,"time":"${isoNow()}"`;

interface PinoInternals {
  readonly [key: symbol]: unknown;
}

/**
 * Returns the writer of completion lines through `logger` (at level info; the caller checks
 * the level). A logger whose destination needs pino's per-line metadata (a multistream) gets
 * `logger.info` itself.
 */
export function completionWriter(logger: Logger): (fields: CompletionFields) => void {
  const internals = logger as unknown as PinoInternals;
  const stream = internals[pino.symbols.streamSym] as { write(line: string): unknown; [key: symbol]: unknown } | undefined;
  const bindings = internals[pino.symbols.chindingsSym];
  if (!stream || typeof stream.write !== 'function' || typeof bindings !== 'string' || stream[pino.symbols.needsMetadataGsym]) {
    return (fields) => logger.info(fields, 'request');
  }
  const json = JSON.stringify;
  return (f) => {
    let line = `{"level":"info","time":"${isoNow()}"${bindings},"reqId":${json(f.reqId)}`;
    if (f.method !== undefined) line += `,"method":${json(f.method)}`;
    line += `,"kind":${json(f.kind)},"route":${json(f.route)},"status":${f.status},"ms":${Number.isFinite(f.ms) ? f.ms : null}`;
    if (f.clientId) line += `,"clientId":${json(f.clientId)}`;
    if (f.sub) line += `,"sub":${json(f.sub)}`;
    if (f.grantType) line += `,"grantType":${json(f.grantType)}`;
    if (f.error) line += `,"error":${json(f.error)}`;
    if (f.detail) line += `,"detail":${json(f.detail)}`;
    if (f.reason) line += `,"reason":${json(f.reason)}`;
    stream.write(`${line},"msg":"request"}\n`);
  };
}
