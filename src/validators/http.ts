/**
 * The `http` password credential validator (docs/validators.md): for directories that are not LDAP (a
 * legacy user database behind a small service). It POSTs the credentials as JSON and maps the
 * answer:
 *
 * ```
 * POST {url}   content-type: application/json   (+ the static headers of headersFile)
 * {"username":"joe","password":"…"}
 *
 * 200 {"subject":"joe","groups":["editors"],"attributes":{"email":"joe@example.org"}} → valid
 * 401 or 403                                                                          → invalid (the chain stops)
 * anything else, a malformed 200, a redirect, a timeout, a connection error           → unavailable (503)
 * ```
 *
 * `groups` and `attributes` may be left out (no groups, no attributes); when present they must
 * be a list of strings and a map of strings. The username sent is canonicalised (NFKC, and lower
 * case unless `caseSensitive`). Redirects are not followed. The service itself must make an
 * unknown user cost what a wrong password costs. It cannot re-check a subject at refresh
 * (`unsupported`: the refresh proceeds).
 */
import { readCaFile } from './ca-file.js';
import { Agent, request } from 'undici';
import type { HttpValidatorConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { canonicalUsername } from '../security/canonical-username.js';
import {
  INVALID_PASSWORD,
  ValidatorUnavailableError,
  type PasswordValidator,
  type Principal,
  type RecheckOutcome,
  type ValidationOutcome,
  type ValidatorHealth,
} from './types.js';
import { ProblemsError } from '../problems-error.js';
import { readUrl } from '../config/url-check.js';

/** A configuration the HTTP validator cannot work with; one line per problem. */
export class HttpValidatorConfigError extends ProblemsError {}

/** A 401/403 cannot tell an unknown user from a wrong password: the chain stops (docs/validators.md). */
const INVALID = INVALID_PASSWORD;
/** The longest a health check keeps `/readyz` waiting. */
const HEALTH_WAIT_MS = 1000;
/** The largest answer read; a principal is a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'transfer-encoding',
  'connection',
  'expect',
  'upgrade',
  'keep-alive',
  'te',
  'trailer',
]);

export class HttpValidator implements PasswordValidator {
  readonly type = 'http';
  readonly name: string;
  readonly #config: HttpValidatorConfig;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #agent: Agent;
  readonly #log: Logger;
  /** The last outage seen by a login (for health without a healthUrl); cleared by an answer. */
  #lastProblem: string | undefined;

  private constructor(config: HttpValidatorConfig, ca: Buffer | undefined, logger: Logger) {
    this.name = config.name;
    this.#config = config;
    this.#headers = Object.freeze({ ...config.headers, 'content-type': 'application/json', accept: 'application/json' });
    this.#agent = new Agent({
      connect: { timeout: config.timeoutMs, ...(ca ? { ca } : {}) },
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
    });
    this.#log = logger.child({ validator: config.name });
  }

  /**
   * Checks the configuration (every problem at once) and reads the CA file; does not call the
   * service, so the gateway starts while it is down.
   * @throws HttpValidatorConfigError with one line per problem.
   */
  static async open(raw: HttpValidatorConfig, logger: Logger): Promise<HttpValidator> {
    const { problems, config, ca } = examine(raw);
    if (problems.length > 0) throw new HttpValidatorConfigError(problems);
    const validator = new HttpValidator(config, ca, logger);
    if (config.url.startsWith('http:')) validator.#log.warn({ url: config.url }, 'plain http:// URL: passwords cross the network in clear');
    return validator;
  }

  async validate(username: string, password: string): Promise<ValidationOutcome> {
    if (password === '') return INVALID;
    const name = canonicalUsername(username, this.#config.caseSensitive);
    if (name === '') return INVALID;
    const { timeoutMs, url } = this.#config;
    try {
      const res = await request(url, {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify({ username: name, password }),
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.statusCode === 401 || res.statusCode === 403) {
        await res.body.dump();
        this.#lastProblem = undefined;
        return INVALID;
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw this.#outage(`answered HTTP ${res.statusCode}`);
      }
      const principal = parsePrincipal(await readJson(res.body));
      if (typeof principal === 'string') throw this.#outage(`answered 200 with ${principal}`);
      this.#lastProblem = undefined;
      return { valid: true, principal };
    } catch (err) {
      if (err instanceof ValidatorUnavailableError) throw err;
      throw this.#outage(describeRequestError(err, timeoutMs), err);
    }
  }

  /** The service has no re-check call: the refresh proceeds. */
  async recheck(): Promise<RecheckOutcome> {
    return 'unsupported';
  }

  /**
   * With `healthUrl`: a GET answered 2xx within the timeout (at most 1 s) is up. Without: down
   * while the last login call ended in an outage, up otherwise (there is no cheap call to make).
   */
  async health(): Promise<ValidatorHealth> {
    const base = { name: this.name, type: this.type };
    const { healthUrl, timeoutMs } = this.#config;
    // A readiness probe's own timeout is often 1 s.
    const wait = Math.min(timeoutMs, HEALTH_WAIT_MS);
    if (!healthUrl) {
      return this.#lastProblem === undefined
        ? { ...base, status: 'up', detail: 'no outage seen by the last call' }
        : { ...base, status: 'down', detail: `last call: ${this.#lastProblem}` };
    }
    try {
      const res = await request(healthUrl, {
        method: 'GET',
        headers: this.#config.headers,
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(wait),
      });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300
        ? { ...base, status: 'up', detail: `${healthUrl} answered ${res.statusCode}` }
        : { ...base, status: 'down', detail: `${healthUrl} answered HTTP ${res.statusCode}` };
    } catch (err) {
      return { ...base, status: 'down', detail: describeRequestError(err, wait) };
    }
  }

  async close(): Promise<void> {
    await this.#agent.close().catch(() => undefined);
  }

  #outage(reason: string, cause?: unknown): ValidatorUnavailableError {
    this.#lastProblem = reason;
    return new ValidatorUnavailableError(this.name, reason, cause === undefined ? undefined : { cause });
  }
}

/** Why a 200 answer's body is unusable (never quoting it: it may echo the password). */
class BadAnswer {
  constructor(readonly reason: string) {}
}

/** Reads at most MAX_BODY_BYTES and parses JSON; a {@link BadAnswer} when that fails. */
async function readJson(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      body.destroy();
      return new BadAnswer(`a body over ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return new BadAnswer('a body that is not JSON');
  }
}

/** The principal of a 200 answer, or a reason it is malformed (never quoting the body). */
function parsePrincipal(json: unknown): Principal | string {
  if (json instanceof BadAnswer) return json.reason;
  if (!isRecord(json)) return 'a body that is not a JSON object';
  const { subject, groups = [], attributes = {} } = json;
  if (typeof subject !== 'string' || subject.trim() === '') return 'no subject (a non-empty string is required)';
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string' && g !== ''))
    return 'groups that are not a list of non-empty strings';
  if (!isRecord(attributes) || !Object.values(attributes).every((v) => typeof v === 'string'))
    return 'attributes that are not a map of strings';
  return Object.freeze({
    subject,
    groups: Object.freeze([...new Set(groups as string[])]),
    attributes: Object.freeze({ ...(attributes as Record<string, string>) }),
  });
}

/** A log-safe reason for a failed request: a timeout, or the error's code. */
function describeRequestError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string } } | undefined;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || /TIMEOUT/.test(e?.code ?? '')) return `no answer within ${timeoutMs} ms`;
  const code = e?.code ?? e?.cause?.code;
  return `request failed: ${code ?? e?.name ?? 'error'}${e?.message ? ` (${e.message.split('\n')[0]})` : ''}`;
}

/**
 * Every problem of an HTTP validator entry, one line each, keys relative to the entry. Pure
 * apart from reading the CA file; run by the configuration check (src/config/validate.ts).
 */
export function httpSettingsProblems(raw: HttpValidatorConfig): string[] {
  return examine(raw).problems;
}

function examine(raw: HttpValidatorConfig): { problems: string[]; config: HttpValidatorConfig; ca: Buffer | undefined } {
  const problems: string[] = [];
  // The loader fills in defaults; a configuration built in code may leave keys out.
  const config = {
    ...raw,
    timeoutMs: raw.timeoutMs ?? 5000,
    tlsCaFile: raw.tlsCaFile ?? '',
    headers: raw.headers ?? {},
    healthUrl: raw.healthUrl ?? '',
  };
  urlProblem('url', config.url, problems);
  if (config.healthUrl) urlProblem('healthUrl', config.healthUrl, problems);
  headerProblems(config.headers, problems);
  const ca = config.tlsCaFile ? readCaFile(config.tlsCaFile, problems) : undefined;
  return { problems, config, ca };
}

function urlProblem(key: string, value: string | undefined, problems: string[]): void {
  if (!value) {
    problems.push(`${key}: is required`);
    return;
  }
  const url = readUrl(value, ['http:', 'https:']);
  if (!url.url) problems.push(`${key}: ${JSON.stringify(value)} is not a URL`);
  else if (url.wrongProtocol) problems.push(`${key}: must be an http:// or https:// URL`);
  else if (url.credentials) problems.push(`${key}: must not hold credentials (send them with headersFile)`);
}

function headerProblems(headers: unknown, problems: string[]): void {
  if (!isRecord(headers)) {
    problems.push('headersFile: must hold a map of header names to values');
    return;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) problems.push(`headersFile: ${JSON.stringify(name)} is not a valid header name`);
    else if (RESERVED_HEADERS.has(name.toLowerCase())) problems.push(`headersFile: ${name} is set by the gateway and cannot be configured`);
    // The value may be a secret: never quote it.
    if (typeof value !== 'string') problems.push(`headersFile: the value of ${name} must be a string`);
    else if (/[\r\n\0]/.test(value)) problems.push(`headersFile: the value of ${name} must not contain line breaks or NUL`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
