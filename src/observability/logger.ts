/**
 * The logger: pino JSON lines on stdout. Secrets never reach a log line: known fields are
 * redacted here, and the code never logs request bodies or raw headers.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths whose values are replaced by "[redacted]" wherever they appear. */
export const REDACT_PATHS = [
  'password',
  'client_secret',
  'secret',
  'token',
  'access_token',
  'refresh_token',
  'authorization',
  '*.password',
  '*.client_secret',
  '*.secret',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.cookie',
];

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
