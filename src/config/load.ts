/**
 * Loads the configuration: schema defaults < YAML/JSON file < `ROPC_*` environment variables,
 * then `…File` secrets, then every check. All problems are collected and thrown together as a
 * {@link ConfigError}, one line per problem naming the key.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import convict from 'convict';
import { parse as parseYaml } from 'yaml';
import { registerFormats } from './formats.js';
import { schema } from './schema.js';
import { checkItem, clientSpec, routeSpec, validatorSpecs } from './items.js';
import { checkResourceConfig } from './resource-checks.js';
import { compileHeaderRules, FORWARDING } from '../resource/identity-headers.js';
import type { ClientConfig, GatewayConfig, RouteConfig, ValidatorConfig } from './types.js';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  readonly mode: 'dev' | 'production';
  /** YAML or JSON file; relative paths inside it resolve against its folder. */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Applied over the file and before the environment (dev-mode defaults). */
  readonly defaults?: Record<string, unknown>;
}

/** The secret the seed's examples use (DESIGN §6); production refuses it. */
export const EXAMPLE_SECRET = '2Federate';
const DEV_USERS_FILE = resolve(dirname(new URL(import.meta.url).pathname), '../../config/dev/users.yaml');

/** Environment variable of a schema path: server.limits.bodyBytes -> ROPC_SERVER_LIMITS_BODY_BYTES. */
export function envName(path: string): string {
  return 'ROPC_' + path.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

type SchemaNode = Record<string, unknown>;
const isLeaf = (node: unknown): node is SchemaNode => typeof node === 'object' && node !== null && 'doc' in node && 'default' in node;

/** The schema with an `env` on every scalar key. */
export function schemaWithEnv(node: SchemaNode = schema, prefix = ''): SchemaNode {
  const out: SchemaNode = {};
  for (const [key, child] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isLeaf(child)) {
      const scalar = child.format !== 'list' && child.format !== 'string-map';
      out[key] = scalar ? { ...child, env: envName(path) } : { ...child };
    } else {
      out[key] = schemaWithEnv(child as SchemaNode, path);
    }
  }
  return out;
}

export function loadConfig(options: LoadOptions): GatewayConfig {
  registerFormats();
  const problems: string[] = [];
  const env = options.env ?? process.env;
  const base = options.file ? dirname(resolve(options.file)) : process.cwd();
  const conf = convict(schemaWithEnv() as convict.Schema<Record<string, unknown>>, { env, args: [] });
  if (options.defaults) conf.load(options.defaults);
  if (options.file) {
    const fromFile = readConfigFile(options.file, problems);
    if (fromFile) conf.load(fromFile);
  }
  if (problems.length) throw new ConfigError(problems);
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    problems.push(...convictProblems(err));
  }
  const raw = conf.getProperties() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- shape checked by convict above

  const readSecret = (file: string, where: string): string => {
    if (!file) return '';
    try {
      return readFileSync(resolvePath(base, file), 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${where}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return '';
    }
  };

  const validators = (raw.validators as unknown[]).map((v, i) => loadValidator(v, `validators[${i}]`, base, readSecret, problems));
  const validatorNames = validators.map((v) => v.name);
  const clients = (raw.clients as unknown[]).map((c, i) => loadClient(c, `clients[${i}]`, validatorNames, readSecret, problems));
  const routes = (raw.routes as unknown[]).map((r, i) => {
    const route = checkItem(routeSpec, r, `routes[${i}]`, problems);
    const caFile = typeof route.upstreamCaFile === 'string' && route.upstreamCaFile ? resolvePath(base, route.upstreamCaFile) : '';
    return { ...route, upstreamCaFile: caFile } as unknown as RouteConfig;
  });
  const filePath = (file: string): string => (file ? resolvePath(base, file) : '');

  const redisPassword = raw.store.redis.password || readSecret(raw.store.redis.passwordFile, 'store.redis.passwordFile');
  const sentinelPassword = raw.store.redis.sentinelPassword || readSecret(raw.store.redis.sentinelPasswordFile, 'store.redis.sentinelPasswordFile');
  const config: GatewayConfig = {
    ...raw,
    mode: options.mode,
    clients,
    validators,
    routes,
    store: { ...raw.store, type: raw.store.type || 'memory', redis: { ...raw.store.redis, password: redisPassword, sentinelPassword } },
    server: { ...raw.server, tls: { certFile: filePath(raw.server.tls.certFile), keyFile: filePath(raw.server.tls.keyFile) } },
    upstream: { ...raw.upstream, caFile: filePath(raw.upstream.caFile) },
    headers: { ...raw.headers, assertion: { ...raw.headers.assertion, keyFile: filePath(raw.headers.assertion.keyFile) } },
  } as unknown as GatewayConfig;
  crossCheck(config, raw, options.mode, problems);
  if (problems.length) throw new ConfigError(problems);
  return config;
}

function readConfigFile(file: string, problems: string[]): Record<string, unknown> | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${file}: cannot read the configuration file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return null;
  }
  try {
    const parsed: unknown = parseYaml(text);
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push(`${file}: must hold a map of configuration keys`);
      return null;
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    problems.push(`${file}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
}

/** Convict reports all problems in one message; turn it into one line per problem. */
function convictProblems(err: unknown): string[] {
  const message = err instanceof Error ? err.message : String(err);
  return message
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const undeclared = /^configuration param '(.+)' not declared in the schema$/.exec(line);
      return undeclared ? `${undeclared[1]}: unknown key (not in the schema)` : line;
    });
}

function resolvePath(base: string, file: string): string {
  return isAbsolute(file) ? file : resolve(base, file);
}

function loadValidator(
  value: unknown,
  where: string,
  base: string,
  readSecret: (file: string, where: string) => string,
  problems: string[],
): ValidatorConfig {
  const type = (value as { type?: unknown } | null)?.type;
  const spec = typeof type === 'string' ? validatorSpecs[type] : undefined;
  if (!spec) {
    problems.push(`${where}.type: must be one of ${Object.keys(validatorSpecs).join(', ')}`);
    return { type: 'file', name: `#invalid${where}`, path: '', caseSensitive: false };
  }
  const v = checkItem(spec, value, where, problems);
  if (type === 'file') return { ...v, path: v.path ? resolvePath(base, v.path as string) : '' } as unknown as ValidatorConfig;
  if (type === 'ldap') {
    const bindPassword = (v.bindPassword as string) || readSecret(v.bindPasswordFile as string, `${where}.bindPasswordFile`);
    const tlsCaFile = v.tlsCaFile ? resolvePath(base, v.tlsCaFile as string) : '';
    return { ...v, bindPassword, tlsCaFile } as unknown as ValidatorConfig;
  }
  let headers: Record<string, string> = {};
  const headersText = readSecret(v.headersFile as string, `${where}.headersFile`);
  if (headersText) {
    try {
      headers = parseYaml(headersText) as Record<string, string>;
    } catch {
      problems.push(`${where}.headersFile: not valid YAML or JSON`);
    }
  }
  const tlsCaFile = v.tlsCaFile ? resolvePath(base, v.tlsCaFile as string) : '';
  return { ...v, headers, tlsCaFile } as unknown as ValidatorConfig;
}

function loadClient(
  value: unknown,
  where: string,
  validatorNames: readonly string[],
  readSecret: (file: string, where: string) => string,
  problems: string[],
): ClientConfig {
  const c = checkItem(clientSpec, value, where, problems) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- checked by clientSpec
  const secret = readSecret(c.secretFile, `${where}.secretFile`);
  const hasSecret = Boolean(c.secretHash || c.secretFile);
  if (c.public && hasSecret) problems.push(`${where}: a public client must not have secretHash or secretFile`);
  if (!c.public && !hasSecret) problems.push(`${where}: needs secretHash or secretFile (or public: true)`);
  if (c.secretHash && !/^\$(argon2id\$|2[aby]\$)/.test(c.secretHash)) {
    problems.push(`${where}.secretHash: must be an argon2id ($argon2id$…) or bcrypt ($2b$…) hash; make one with \`ropc-gateway hash-secret\``);
  }
  for (const s of c.defaultScopes as string[]) {
    if (!(c.scopes as string[]).includes(s)) problems.push(`${where}.defaultScopes: "${s}" is not in scopes`);
  }
  for (const name of c.validators as string[]) {
    if (!validatorNames.includes(name)) problems.push(`${where}.validators: no validator is named "${name}"`);
  }
  const chain = (c.validators as string[]).length ? c.validators : validatorNames;
  if ((c.grantTypes as string[]).includes('password') && chain.length === 0) {
    problems.push(`${where}: the password grant needs at least one validator (none is configured)`);
  }
  return { ...c, secret, validators: chain } as ClientConfig;
}

/** headers.passThrough and headers.assertion: see src/resource/identity-headers.ts for what is stripped. */
function checkHeaders(config: GatewayConfig, problems: string[]): void {
  const { identity, passThrough, assertion } = config.headers;
  const identityNames = Object.keys(identity).map((h) => h.toLowerCase());
  const assertionHeader = assertion.enabled ? assertion.header.toLowerCase() : '';
  const rules = compileHeaderRules({ identity, removeAuthorization: true, trustProxy: config.server.trustProxy, assertionHeader });
  for (const name of passThrough) {
    const n = name.toLowerCase();
    if (rules.owns(n)) problems.push(`headers.passThrough: "${name}" is a header the gateway sets (headers.identity, X-Auth-*, the assertion header); it cannot come from the client`);
    else if (FORWARDING.includes(n) || n === 'x-request-id') problems.push(`headers.passThrough: "${name}" is set by the gateway; server.trustProxy decides whether an inbound one is kept`);
    else if (NOT_PASSABLE.includes(n)) problems.push(`headers.passThrough: "${name}" is hop-by-hop or Authorization, never passed this way`);
    else if (!rules.strips(n)) problems.push(`headers.passThrough: "${name}" is not stripped; nothing to pass through`);
  }
  if (assertion.enabled) {
    if (!HEADER_NAME.test(assertion.header)) problems.push(`headers.assertion.header: "${assertion.header}" is not a valid header name`);
    if (identityNames.includes(assertionHeader)) problems.push(`headers.assertion.header: "${assertion.header}" is also in headers.identity`);
    if (assertion.keyFile) {
      try {
        const key = createPrivateKey(readFileSync(assertion.keyFile));
        if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') problems.push('headers.assertion.keyFile: must hold an EC P-256 private key (ES256)');
      } catch (err) {
        problems.push(`headers.assertion.keyFile: cannot read a PEM private key from ${assertion.keyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  }
}

const NOT_PASSABLE = ['authorization', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'expect', 'host', 'transfer-encoding', 'content-length'];

const IDENTITY_FIELDS = /^(sub|client_id|scope|groups|attributes\.[A-Za-z0-9_.-]+)$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function crossCheck(config: GatewayConfig, raw: Record<string, any>, mode: 'dev' | 'production', problems: string[]): void { // eslint-disable-line @typescript-eslint/no-explicit-any -- raw convict values
  const dupes = (names: string[]) => names.filter((n, i) => names.indexOf(n) !== i);
  for (const id of new Set(dupes(config.clients.map((c) => c.id)))) problems.push(`clients: the id "${id}" is used twice`);
  for (const n of new Set(dupes(config.validators.map((v) => v.name)))) problems.push(`validators: the name "${n}" is used twice`);

  const { certFile, keyFile } = config.server.tls;
  if (Boolean(certFile) !== Boolean(keyFile)) problems.push('server.tls: certFile and keyFile must be set together');
  if (config.lockout.maxLockSeconds < config.lockout.lockSeconds) problems.push('lockout.maxLockSeconds: must be at least lockout.lockSeconds');
  const paths = Object.values(config.oauth.paths);
  if (new Set(paths).size !== paths.length) problems.push('oauth.paths: every endpoint needs its own path');
  if (config.server.port === config.admin.port && config.server.port !== 0) problems.push('admin.port: must differ from server.port');

  for (const [header, field] of Object.entries(config.headers.identity)) {
    if (!HEADER_NAME.test(header)) problems.push(`headers.identity: "${header}" is not a valid header name`);
    if (!IDENTITY_FIELDS.test(field)) problems.push(`headers.identity.${header}: must be sub, client_id, scope, groups or attributes.NAME`);
  }
  checkHeaders(config, problems);
  if (config.store.type === 'redis') {
    const r = config.store.redis;
    if (!r.url && r.sentinels.length === 0 && r.cluster.length === 0) problems.push('store.redis: set url, sentinels or cluster for the redis store');
  }
  // Route rules, decision endpoint, TLS files and listener limits: see resource-checks.ts.
  checkResourceConfig(config, problems);

  if (mode === 'production') {
    if (!raw.store.type) problems.push('store.type: required in production (redis, or memory for a single process)');
    if (!config.upstream.url) problems.push('upstream.url: required in production (the application to protect)');
    config.clients.forEach((c, i) => {
      if (c.secret === EXAMPLE_SECRET) problems.push(`clients[${i}].secretFile: holds the example secret of dev mode; set a secret of your own`);
    });
    config.validators.forEach((v, i) => {
      if (v.type === 'file' && v.path === DEV_USERS_FILE) problems.push(`validators[${i}].path: is the example users file of dev mode; use your own`);
    });
  }
}
