/**
 * The logger: pino JSON lines on stdout. Secrets never reach a log line: known fields are
 * redacted here, and the code never logs request bodies or raw headers.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { isoTime } from './request-log.js';

export type { Logger };

const SECRET_FIELDS = ['password', 'client_secret', 'secret', 'token', 'access_token', 'refresh_token', 'authorization', 'cookie'];

/**
 * Paths whose values are replaced by "[redacted]": the secret field names at the top of a line
 * and inside the objects a line could carry them in. Deliberately no `*.` wildcard paths: with
 * one, pino runs the redactor over every value of every line, which cost 6.5 % of the
 * resource path's CPU (docs/performance.md). The code never logs bodies, forms or raw headers;
 * these paths are the safety net, and the log tests search the output for every secret used.
 */
export const REDACT_PATHS = ['', 'headers.', 'req.headers.', 'body.', 'params.', 'err.'].flatMap((prefix) =>
  SECRET_FIELDS.map((f) => prefix + f),
);

/**
 * Lines are collected and written together once this many bytes wait (one write(2) per ~15
 * completion lines instead of one per line), and at most every FLUSH_MS. Writes stay below
 * PIPE_BUF (4096 bytes on Linux), so the lines of several workers sharing one stdout pipe
 * (server.workers) never interleave inside a line.
 */
const BATCH_BYTES = 3584;
const MAX_WRITE = 4096;
const FLUSH_MS = 200;

let stdout: ReturnType<typeof pino.destination> | undefined;

/**
 * The process's stdout destination for `ropc-gateway start`: batched synchronous writes
 * (docs/performance.md, "The completion log line"), flushed every FLUSH_MS, and flushed
 * synchronously when the process exits however it exits (process.exit after a drain, a
 * second signal, an uncaught exception), so the lines written before SIGTERM are never lost.
 * Synchronous on purpose: an asynchronous write still in the thread pool at process.exit
 * could be lost. One per process.
 */
export function stdoutDestination(): DestinationStream {
  if (stdout) return stdout;
  const dest = pino.destination({ dest: 1, sync: true, minLength: BATCH_BYTES, maxWrite: MAX_WRITE, periodicFlush: FLUSH_MS });
  process.on('exit', () => flushLogs());
  stdout = dest;
  return dest;
}

/** Writes what {@link stdoutDestination} holds now (a line others wait for, such as "listening"). */
export function flushLogs(): void {
  try {
    stdout?.flushSync();
  } catch {
    // stdout closed: nothing left to write to.
  }
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'ropc-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
