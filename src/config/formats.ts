import convict from 'convict';
import { isUrl } from './url-check.js';

/**
 * Named formats for the configuration schema. Each throws a message that reads well after the
 * key's name ("server.port: must be a port number (0-65535)").
 */
let registered = false;

export function registerFormats(): void {
  if (registered) return;
  registered = true;
  convict.addFormats({
    port: {
      validate(value: unknown) {
        if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535) {
          throw new Error('must be a port number (0-65535)');
        }
      },
      coerce: (v: string) => (/^\d+$/.test(v) ? Number(v) : v),
    },
    'positive-int': {
      validate(value: unknown) {
        if (!Number.isInteger(value) || (value as number) < 1) throw new Error('must be a whole number of at least 1');
      },
      coerce: (v: string) => (/^\d+$/.test(v) ? Number(v) : v),
    },
    'non-negative-int': {
      validate(value: unknown) {
        if (!Number.isInteger(value) || (value as number) < 0) throw new Error('must be a whole number of at least 0');
      },
      coerce: (v: string) => (/^\d+$/.test(v) ? Number(v) : v),
    },
    workers: {
      validate(value: unknown) {
        if (value !== 'auto' && (!Number.isInteger(value) || (value as number) < 1))
          throw new Error('must be a whole number of at least 1, or "auto"');
      },
      coerce: (v: string) => (/^\d+$/.test(v) ? Number(v) : v),
    },
    boolean: {
      validate(value: unknown) {
        if (typeof value !== 'boolean') throw new Error('must be true or false');
      },
      coerce: (v: string) => (v === 'true' ? true : v === 'false' ? false : v),
    },
    string: {
      validate(value: unknown) {
        if (typeof value !== 'string') throw new Error('must be a string');
      },
    },
    ratio: {
      validate(value: unknown) {
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) throw new Error('must be a number from 0 to 1');
      },
      coerce: (v: string) => (/^\d+(\.\d+)?$|^\.\d+$/.test(v) ? Number(v) : v),
    },
    'http-url': {
      validate(value: unknown) {
        if (value === '') return;
        if (typeof value !== 'string' || !isUrl(value, ['http:', 'https:'])) {
          throw new Error('must be an http:// or https:// URL');
        }
      },
    },
    'redis-url': {
      validate(value: unknown) {
        if (value === '') return;
        if (typeof value !== 'string' || !isUrl(value, ['redis:', 'rediss:'])) {
          throw new Error('must be a redis:// or rediss:// URL');
        }
      },
    },
    'url-path': {
      validate(value: unknown) {
        if (typeof value !== 'string' || !/^\/[!-~]*$/.test(value)) {
          throw new Error('must be a path starting with "/" (printable ASCII, no spaces)');
        }
      },
    },
    'host-port-list': {
      validate(value: unknown) {
        if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && /^[^\s:]+:\d{1,5}$/.test(v))) {
          throw new Error('must be a list of "host:port" strings');
        }
      },
      coerce: (v: string) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
    },
    'header-name-list': {
      validate(value: unknown) {
        if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/.test(v))) {
          throw new Error('must be a list of header names (letters, digits and -; no _)');
        }
      },
      coerce: (v: string) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
    },
    'path-list': {
      validate(value: unknown) {
        if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0)) {
          throw new Error('must be a list of file paths');
        }
      },
      coerce: (v: string) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
    },
    'string-map': {
      validate(value: unknown) {
        if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
          throw new Error('must be a map of names to strings');
        }
      },
    },
    list: {
      validate(value: unknown) {
        if (!Array.isArray(value)) throw new Error('must be a list');
      },
    },
  });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An ISO 8601 date or date-time with a zone (Z or ±hh:mm), as secondarySecretsNotAfter takes it. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** The end of a secondary secret in ms since the epoch; undefined for none, NaN for an unreadable one. */
export function secretNotAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  return ISO_INSTANT.test(value) ? Date.parse(value) : Number.NaN;
}
