/**
 * Loads the configuration: schema defaults < YAML/JSON file < `ROPC_*` environment variables,
 * then `…File` secrets, then every check. All problems are collected and thrown together as a
 * {@link ConfigError}, one line per problem naming the key.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import convict from 'convict';
import { parse as parseYaml, parseDocument } from 'yaml';
import { registerFormats, secretNotAfter } from './formats.js';
import { schema } from './schema.js';
import { checkItem, clientSpec, routeSpec, validatorSpecByType, validatorSpecs } from './items.js';
import { checkResourceConfig } from './resource-checks.js';
import { compileHeaderRules, FORWARDING } from '../resource/identity-headers.js';
import { scopeProblems } from './scope-checks.js';
import { checkIncumbent } from './incumbent-checks.js';
import type { ClientConfig, GatewayConfig, ItemValues, RouteConfig, SchemaValues, ValidatorConfig } from './types.js';
import { HOP_BY_HOP } from '../http/hop-by-hop.js';
import { ProblemsError } from '../problems-error.js';

/** An invalid configuration: every problem found, one line each. */
export class ConfigError extends ProblemsError {
  constructor(problems: readonly string[]) {
    super(problems, `invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
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

/** The secret the seed's examples use (docs/configuration.md); production refuses it. */
export const EXAMPLE_SECRET = '2Federate';
const DEV_USERS_FILE = resolve(dirname(new URL(import.meta.url).pathname), '../../config/dev/users.yaml');

/** Environment variable of a schema path: server.limits.bodyBytes -> ROPC_SERVER_LIMITS_BODY_BYTES. */
export function envName(path: string): string {
  return `ROPC_${path
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/\./g, '_')
    .toUpperCase()}`;
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

/**
 * The schema-level result of loading: the configuration built as far as it goes, and every
 * problem found on the way (deduplicated; see {@link collectConfig}). `invalid` names the list
 * items (`validators[1]`) whose type or shape was refused, so later checks skip them instead of
 * cascading.
 */
export interface Collected {
  /** Undefined only when the configuration file itself could not be read or parsed. */
  readonly config: GatewayConfig | undefined;
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
  readonly invalid: ReadonlySet<string>;
  /** Resolved absolute path -> the path as configured, for messages that name both. */
  readonly configuredPaths: ReadonlyMap<string, string>;
}

/** Loads and checks the configuration; throws every problem at once (see validate.ts for the deep checks). */
export function loadConfig(options: LoadOptions): GatewayConfig {
  const { config, problems } = collectConfig(options);
  if (problems.length || !config) throw new ConfigError(problems);
  return config;
}

/**
 * Builds the configuration and collects every schema, item and cross-field problem without
 * throwing. Reads the configuration file and `…File` secrets; never connects anywhere.
 */
export function collectConfig(options: LoadOptions): Collected {
  registerFormats();
  const problems: string[] = [];
  const warnings: string[] = [];
  const invalid = new Set<string>();
  const configuredPaths = new Map<string, string>();
  const env = options.env ?? process.env;
  const base = options.file ? dirname(resolve(options.file)) : process.cwd();
  const conf = convict(schemaWithEnv() as convict.Schema<Record<string, unknown>>, { env, args: [] });
  problems.push(...unknownEnvProblems(env));
  if (options.defaults) conf.load(options.defaults);
  if (options.file) {
    const fromFile = readConfigFile(options.file, problems);
    if (fromFile) conf.load(fromFile);
    else return { config: undefined, problems: unique(problems), warnings, invalid, configuredPaths };
  }
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    problems.push(...convictProblems(err, env));
  }
  // A key the schema format already refused is not checked again by the cross-field checks.
  const refusedKeys = new Set(problems.map(keyOf));
  // The shape convict checked above; the values' types are derived from the same schema.
  const raw = conf.getProperties() as SchemaValues<typeof schema>;

  const readSecret = (file: string, where: string): string => {
    if (!file) return '';
    try {
      return readFileSync(resolvePath(base, file), 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${where}: ${readFailure(file, resolvePath(base, file), err)}`);
      return '';
    }
  };
  const itemChecked = <T>(where: string, check: (itemProblems: string[]) => T): T => {
    const itemProblems: string[] = [];
    const item = check(itemProblems);
    // Without a known type nothing else about the item can be checked.
    if (itemProblems.some((line) => line.startsWith(`${where}.type:`) || line.startsWith(`${where}: must be a map`))) invalid.add(where);
    problems.push(...itemProblems);
    return item;
  };

  const resolveFile = (file: string): string => {
    const resolved = resolvePath(base, file);
    configuredPaths.set(resolved, file);
    return resolved;
  };
  const validators = raw.validators.map((v, i) =>
    itemChecked(`validators[${i}]`, (p) => loadValidator(v, `validators[${i}]`, resolveFile, readSecret, p)),
  );
  const validatorNames = validators.map((v) => v.name);
  const clients = raw.clients.map((c, i) =>
    itemChecked(`clients[${i}]`, (p) => loadClient(c, `clients[${i}]`, validatorNames, readSecret, p)),
  );
  const routes = raw.routes.map((r, i) => {
    const route = itemChecked(`routes[${i}]`, (p) => checkItem(routeSpec, r, `routes[${i}]`, p));
    const caFile = typeof route.upstreamCaFile === 'string' && route.upstreamCaFile ? resolveFile(route.upstreamCaFile) : '';
    return { ...route, upstreamCaFile: caFile } as unknown as RouteConfig;
  });
  const filePath = (file: string): string => (file ? resolveFile(file) : '');

  const redisPassword = raw.store.redis.password || readSecret(raw.store.redis.passwordFile, 'store.redis.passwordFile');
  const sentinelPassword =
    raw.store.redis.sentinelPassword || readSecret(raw.store.redis.sentinelPasswordFile, 'store.redis.sentinelPasswordFile');
  const incumbent = raw.incumbent.introspection;
  const incumbentSecret = incumbent.clientSecret || readSecret(incumbent.clientSecretFile, 'incumbent.introspection.clientSecretFile');
  const config: GatewayConfig = {
    ...raw,
    mode: options.mode,
    clients,
    validators,
    routes,
    store: { ...raw.store, type: raw.store.type || 'memory', redis: { ...raw.store.redis, password: redisPassword, sentinelPassword } },
    server: { ...raw.server, tls: { certFile: filePath(raw.server.tls.certFile), keyFile: filePath(raw.server.tls.keyFile) } },
    upstream: { ...raw.upstream, caFile: filePath(raw.upstream.caFile) },
    oauth: { ...raw.oauth, signing: { ...raw.oauth.signing, keyFiles: raw.oauth.signing.keyFiles.map(filePath) } },
    headers: { ...raw.headers, assertion: { ...raw.headers.assertion, keyFile: filePath(raw.headers.assertion.keyFile) } },
    audit: { ...raw.audit, file: filePath(raw.audit.file) },
    incumbent: { introspection: { ...incumbent, clientSecret: incumbentSecret, caFile: filePath(incumbent.caFile) } },
  };
  const before = problems.length;
  crossCheck(config, raw, options.mode, problems, warnings);
  const crossProblems = problems.splice(before).filter((line) => !refusedKeys.has(keyOf(line)));
  problems.push(...crossProblems);
  return {
    config,
    problems: unique(problems.map((line) => namingConfiguredPath(line, configuredPaths))),
    warnings: unique(warnings),
    invalid,
    configuredPaths,
  };
}

/** Adds the configured form to a resolved path a problem line names ("… (resolved to …)"). */
export function namingConfiguredPath(line: string, configuredPaths: ReadonlyMap<string, string>): string {
  if (line.includes('(resolved to ')) return line;
  for (const [resolved, configured] of configuredPaths) {
    if (configured !== resolved && line.includes(resolved)) return line.replace(resolved, describePath(configured, resolved));
  }
  return line;
}

/** The key a problem line names: the text before its first ": ". */
export function keyOf(line: string): string {
  const i = line.indexOf(': ');
  return i === -1 ? line : line.slice(0, i);
}

function unique(lines: readonly string[]): string[] {
  return [...new Set(lines)];
}

/** "cannot read FILE (resolved to /abs/FILE): ENOENT (no such file)", naming both paths when they differ. */
export function readFailure(configured: string, resolved: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'ENOENT (no such file)'
      : code === 'EACCES'
        ? 'EACCES (permission denied)'
        : code === 'EISDIR'
          ? 'EISDIR (a directory, not a file)'
          : (code ?? (err as Error).message);
  return `cannot read ${describePath(configured, resolved)}: ${why}`;
}

/** A path as configured, with its resolved absolute form when they differ. */
export function describePath(configured: string, resolved: string): string {
  return configured === resolved ? resolved : `${configured} (resolved to ${resolved})`;
}

/** Every environment variable a configuration key reads. */
export function knownEnvNames(node: SchemaNode = schemaWithEnv()): Set<string> {
  const names = new Set<string>();
  for (const child of Object.values(node)) {
    if (isLeaf(child)) {
      if (typeof child['env'] === 'string') names.add(child['env']);
    } else {
      for (const n of knownEnvNames(child as SchemaNode)) names.add(n);
    }
  }
  return names;
}

/** A `ROPC_*` variable that is no configuration key is a typo that would be silently ignored. */
function unknownEnvProblems(env: NodeJS.ProcessEnv): string[] {
  const known = knownEnvNames();
  return Object.keys(env)
    .filter((name) => name.startsWith('ROPC_') && !known.has(name))
    .sort()
    .map((name) => {
      const near = [...known].find((k) => editDistance(k, name) <= 2);
      return `${name}: unknown environment variable (no configuration key reads it)${near ? `; did you mean ${near}?` : ''}`;
    });
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] ?? 0;
}

function readConfigFile(file: string, problems: string[]): Record<string, unknown> | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${file}: ${readFailure(file, resolve(file), err).replace('cannot read', 'cannot read the configuration file')}`);
    return null;
  }
  const doc = parseDocument(text);
  if (doc.errors.length) {
    // Every parser error, each on one line: the message and its position. The source excerpt
    // the parser appends is left out (the line may hold a secret).
    for (const err of doc.errors) problems.push(`${file}: not valid YAML or JSON: ${yamlMessage(err.message)}`);
    return null;
  }
  let parsed: unknown;
  try {
    parsed = doc.toJS();
  } catch (err) {
    problems.push(`${file}: not valid YAML or JSON: ${yamlMessage((err as Error).message)}`);
    return null;
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`${file}: must hold a map of configuration keys`);
    return null;
  }
  return parsed as Record<string, unknown>;
}

/** A YAML parser message on one line: "… at line 2, column 5" without the quoted excerpt. */
function yamlMessage(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:\s*$/, '');
}

/**
 * Convict reports all problems in one message; turn it into one line per problem, naming the
 * environment variable when the refused value came from one.
 */
function convictProblems(err: unknown, env: NodeJS.ProcessEnv): string[] {
  const message = err instanceof Error ? err.message : String(err);
  return message
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const undeclared = /^configuration param '(.+)' not declared in the schema$/.exec(line);
      if (undeclared) return `${undeclared[1]}: unknown key (not in the schema)`;
      const variable = envName(keyOf(line));
      return env[variable] !== undefined ? `${line} (from the environment variable ${variable})` : line;
    });
}

function resolvePath(base: string, file: string): string {
  return isAbsolute(file) ? file : resolve(base, file);
}

function loadValidator(
  value: unknown,
  where: string,
  resolveFile: (file: string) => string,
  readSecret: (file: string, where: string) => string,
  problems: string[],
): ValidatorConfig {
  const type = (value as { type?: unknown } | null)?.type;
  const spec = typeof type === 'string' ? validatorSpecByType[type] : undefined;
  if (!spec) {
    problems.push(
      `${where}.type: must be one of ${Object.keys(validatorSpecs).join(', ')}${type === undefined ? '' : `: value was ${JSON.stringify(type)}`}`,
    );
    // Keep the entry's name, so clients naming it do not also report "no validator is named …".
    const name = (value as { name?: unknown } | null)?.name;
    return {
      type: 'file',
      name: typeof name === 'string' ? name : `#invalid${where}`,
      path: '',
      caseSensitive: false,
      subjectPrefix: '',
      groupScopes: {},
    };
  }
  const v = checkItem(spec, value, where, problems);
  if (type === 'file') return { ...v, path: v.path ? resolveFile(v.path as string) : '' } as unknown as ValidatorConfig;
  if (type === 'ldap') {
    const bindPassword = (v.bindPassword as string) || readSecret(v.bindPasswordFile as string, `${where}.bindPasswordFile`);
    const tlsCaFile = v.tlsCaFile ? resolveFile(v.tlsCaFile as string) : '';
    return { ...v, bindPassword, tlsCaFile } as unknown as ValidatorConfig;
  }
  let headers: Record<string, string> = {};
  const headersText = readSecret(v.headersFile as string, `${where}.headersFile`);
  if (headersText) {
    try {
      headers = parseYaml(headersText) as Record<string, string>;
    } catch (err) {
      problems.push(`${where}.headersFile: not valid YAML or JSON: ${yamlMessage((err as Error).message)}`);
    }
  }
  const tlsCaFile = v.tlsCaFile ? resolveFile(v.tlsCaFile as string) : '';
  return { ...v, headers, tlsCaFile } as unknown as ValidatorConfig;
}

/** Most secondary secrets a client may have: each costs every failed attempt of every client a verification. */
export const MAX_SECONDARY_SECRETS = 4;

function secondarySecretProblems(c: ItemValues<typeof clientSpec>, where: string): string[] {
  const problems: string[] = [];
  const hashes = c.secondarySecretHashes;
  if (c.public && hashes.length) problems.push(`${where}.secondarySecretHashes: a public client has no secrets`);
  if (hashes.length > MAX_SECONDARY_SECRETS) problems.push(`${where}.secondarySecretHashes: at most ${MAX_SECONDARY_SECRETS} secrets`);
  if (hashes.length && !c.secretHash && !c.secretFile)
    problems.push(`${where}.secondarySecretHashes: needs secretHash or secretFile beside it (the current secret)`);
  hashes.forEach((hash, i) => {
    if (!/^\$(argon2id\$|2[aby]\$)/.test(hash))
      problems.push(
        `${where}.secondarySecretHashes[${i}]: must be an argon2id ($argon2id$…) or bcrypt ($2b$…) hash; make one with \`ropc-gateway hash-secret\``,
      );
  });
  if (c.secondarySecretsNotAfter.length > hashes.length)
    problems.push(`${where}.secondarySecretsNotAfter: has more entries than secondarySecretHashes`);
  c.secondarySecretsNotAfter.forEach((value, i) => {
    if (Number.isNaN(secretNotAfter(value)))
      problems.push(`${where}.secondarySecretsNotAfter[${i}]: must be an ISO 8601 instant such as 2026-03-01T00:00:00Z`);
  });
  return problems;
}

function loadClient(
  value: unknown,
  where: string,
  validatorNames: readonly string[],
  readSecret: (file: string, where: string) => string,
  problems: string[],
): ClientConfig {
  const c = checkItem(clientSpec, value, where, problems) as ItemValues<typeof clientSpec>; // checked by clientSpec, defaults applied
  const secret = readSecret(c.secretFile, `${where}.secretFile`);
  const hasSecret = Boolean(c.secretHash || c.secretFile);
  if (c.public && hasSecret) problems.push(`${where}: a public client must not have secretHash or secretFile`);
  if (!c.public && !hasSecret) problems.push(`${where}: needs secretHash or secretFile (or public: true)`);
  if (c.secretHash && !/^\$(argon2id\$|2[aby]\$)/.test(c.secretHash)) {
    problems.push(
      `${where}.secretHash: must be an argon2id ($argon2id$…) or bcrypt ($2b$…) hash; make one with \`ropc-gateway hash-secret\``,
    );
  }
  problems.push(...secondarySecretProblems(c, where));
  for (const s of c.defaultScopes) {
    if (!c.scopes.includes(s)) problems.push(`${where}.defaultScopes: "${s}" is not in scopes`);
  }
  for (const name of c.validators) {
    if (!validatorNames.includes(name)) problems.push(`${where}.validators: no validator is named "${name}"`);
  }
  const chain = c.validators.length ? c.validators : validatorNames;
  if (c.grantTypes.includes('password') && chain.length === 0) {
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
    if (rules.owns(n))
      problems.push(
        `headers.passThrough: "${name}" is a header the gateway sets (headers.identity, X-Auth-*, the assertion header); it cannot come from the client`,
      );
    else if (FORWARDING.includes(n) || n === 'x-request-id')
      problems.push(`headers.passThrough: "${name}" is set by the gateway; server.trustProxy decides whether an inbound one is kept`);
    else if (NOT_PASSABLE.includes(n))
      problems.push(`headers.passThrough: "${name}" is hop-by-hop or Authorization, never passed this way`);
    else if (!rules.strips(n)) problems.push(`headers.passThrough: "${name}" is not stripped; nothing to pass through`);
  }
  if (assertion.enabled) {
    if (!HEADER_NAME.test(assertion.header)) problems.push(`headers.assertion.header: "${assertion.header}" is not a valid header name`);
    if (identityNames.includes(assertionHeader))
      problems.push(`headers.assertion.header: "${assertion.header}" is also in headers.identity`);
    if (assertion.keyFile) {
      try {
        const key = createPrivateKey(readFileSync(assertion.keyFile));
        if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
          problems.push('headers.assertion.keyFile: must hold an EC P-256 private key (ES256)');
      } catch (err) {
        problems.push(
          `headers.assertion.keyFile: cannot read a PEM private key from ${assertion.keyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
    }
  }
}

/** Never passed through: the hop-by-hop headers (RFC 9110 §7.6.1), credentials, and what frames or routes the request. */
const NOT_PASSABLE = [...HOP_BY_HOP, 'authorization', 'proxy-authorization', 'expect', 'host', 'content-length'];

const IDENTITY_FIELDS = /^(sub|client_id|scope|groups|attributes\.[A-Za-z0-9_.-]+)$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function crossCheck(
  config: GatewayConfig,
  raw: SchemaValues<typeof schema>,
  mode: 'dev' | 'production',
  problems: string[],
  warnings: string[],
): void {
  const dupes = (names: string[]) => names.filter((n, i) => names.indexOf(n) !== i);
  for (const id of new Set(dupes(config.clients.map((c) => c.id)))) problems.push(`clients: the id "${id}" is used twice`);
  for (const n of new Set(dupes(config.validators.map((v) => v.name)))) problems.push(`validators: the name "${n}" is used twice`);

  const { certFile, keyFile } = config.server.tls;
  if (Boolean(certFile) !== Boolean(keyFile)) problems.push('server.tls: certFile and keyFile must be set together');
  if (config.audit.destination === 'file' && !config.audit.file) problems.push('audit.file: is required when audit.destination is file');
  if (config.tracing.enabled && !config.tracing.endpoint) problems.push('tracing.endpoint: is required when tracing.enabled is true');
  if (config.lockout.maxLockSeconds < config.lockout.lockSeconds)
    problems.push('lockout.maxLockSeconds: must be at least lockout.lockSeconds');
  const paths = Object.values(config.oauth.paths);
  if (new Set(paths).size !== paths.length) problems.push('oauth.paths: every endpoint needs its own path');
  if (config.passwordChange.enabled && paths.includes(config.passwordChange.path))
    problems.push('passwordChange.path: must differ from every oauth.paths endpoint');
  if (config.passwordChange.enabled) {
    for (const v of config.validators) {
      if (v.type === 'ldap' && !v.startTls && !v.passwordChangeWithoutTls && v.urls.some((u) => /^ldap:/i.test(u))) {
        warnings.push(`validators.${v.name}: password changes are refused over plain ldap:// without startTls (use ldaps:// or startTls)`);
      }
    }
  }
  if (config.server.port === config.admin.port && config.server.port !== 0) problems.push('admin.port: must differ from server.port');

  for (const [header, field] of Object.entries(config.headers.identity)) {
    if (!HEADER_NAME.test(header)) problems.push(`headers.identity: "${header}" is not a valid header name`);
    if (!IDENTITY_FIELDS.test(field)) problems.push(`headers.identity.${header}: must be sub, client_id, scope, groups or attributes.NAME`);
  }
  if (config.store.type === 'redis') {
    const r = config.store.redis;
    if (!r.url && r.sentinels.length === 0 && r.cluster.length === 0)
      problems.push('store.redis: set url, sentinels or cluster for the redis store');
  }
  // Route rules, decision endpoint, TLS files and listener limits: see resource-checks.ts.
  checkResourceConfig(config, problems);
  checkHeaders(config, problems);
  problems.push(...scopeProblems(config));
  checkIncumbent(config, mode, problems, warnings);
  if (raw.upstream.engine)
    warnings.push(
      `upstream.engine: deprecated and ignored ("${raw.upstream.engine}"): plain HTTP always goes through undici, WebSocket through http-proxy-3; remove the key`,
    );

  if (mode === 'production') {
    if (config.oauth.issuer.startsWith('http:')) {
      warnings.push(
        `oauth.issuer: ${config.oauth.issuer} is not https:// (RFC 8414 §2: the issuer identifier is an https URL); set the public https:// address of the gateway`,
      );
    }
    if (!raw.store.type) problems.push('store.type: required in production (redis, or memory for a single process)');
    if (!config.upstream.url) problems.push('upstream.url: required in production (the application to protect)');
    config.clients.forEach((c, i) => {
      if (c.secret === EXAMPLE_SECRET)
        problems.push(`clients[${i}].secretFile: holds the example secret of dev mode; set a secret of your own`);
    });
    config.validators.forEach((v, i) => {
      if (v.type === 'file' && v.path === DEV_USERS_FILE)
        problems.push(`validators[${i}].path: is the example users file of dev mode; use your own`);
    });
  }
}
