/**
 * The logger: pino JSON lines on stdout. Secrets never reach a log line: known fields are
 * redacted here, and the code never logs request bodies or raw headers.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const SECRET_FIELDS = ['password', 'client_secret', 'secret', 'token', 'access_token', 'refresh_token', 'authorization', 'cookie'];

/**
 * Paths whose values are replaced by "[redacted]": the secret field names at the top of a line
 * and inside the objects a line could carry them in. Deliberately no `*.` wildcard paths: with
 * one, pino runs the redactor over every value of every line, which cost 6.5 % of the
 * resource path's CPU (docs/performance.md). The code never logs bodies, forms or raw headers;
 * these paths are the safety net, and the log tests search the output for every secret used.
 */
export const REDACT_PATHS = ['', 'headers.', 'req.headers.', 'body.', 'params.', 'err.'].flatMap((prefix) => SECRET_FIELDS.map((f) => prefix + f));

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'ropc-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
