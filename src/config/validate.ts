/**
 * The one configuration check, run by `check-config` and by `start` before anything connects
 * (docs/configuration.md, "Validation"): the schema, list items and cross-field rules of
 * load.ts, then every validator's settings (URLs, TLS files and their PEM content, search
 * settings, attribute maps), every users file, the secrets and the signing keys. Pure apart from reading the
 * files the configuration names: it never opens a connection, so a directory or Redis that is
 * down is a runtime state (503 and readiness), never a configuration problem.
 *
 * Every problem is one line naming its key; all of them are reported at once, each only once.
 * An item whose type was refused is not checked further, and a key the schema refused is not
 * checked again, so one mistake yields one line.
 */
import { scopeWarnings } from './scope-checks.js';
import { routeWarnings } from './resource-checks.js';
import type { GatewayConfig, ValidatorConfig } from './types.js';
import { collectConfig, EXAMPLE_SECRET, keyOf, namingConfiguredPath, type LoadOptions } from './load.js';
import { verifySecret } from '../security/password-hash.js';
import { secretNotAfter } from './formats.js';
import { usersFileProblems } from '../validators/users-file.js';
import { ldapSettingsProblems } from '../validators/ldap-settings.js';
import { httpSettingsProblems } from '../validators/http.js';
import { signingProblems } from './signing-checks.js';

export interface ConfigValidation {
  /** The configuration, only when there is no problem. */
  readonly config: GatewayConfig | undefined;
  /** One line per problem, naming the key; empty when the configuration can start. */
  readonly problems: readonly string[];
  /** Lines worth acting on that do not stop the gateway (an http:// issuer in production). */
  readonly warnings: readonly string[];
}

export async function validateConfig(options: LoadOptions): Promise<ConfigValidation> {
  const collected = collectConfig(options);
  const { config, invalid } = collected;
  const problems = [...collected.problems];
  if (config) {
    const deep: string[] = [];
    config.validators.forEach((validator, i) => {
      const where = `validators[${i}]`;
      if (!invalid.has(where)) deep.push(...validatorProblems(validator, where));
    });
    if (config.mode === 'production') deep.push(...(await exampleSecretProblems(config, invalid)));
    deep.push(...(await signingProblems(config)));
    deep.push(...workersProblems(config));
    // A key the schema already refused (`urls: is required`) is not reported again.
    const refused = new Set(problems.map(keyOf));
    problems.push(...deep.filter((line) => !refused.has(keyOf(line))));
  }
  const lines = [...new Set(problems.map((line) => namingConfiguredPath(line, collected.configuredPaths)))];
  const valid = lines.length === 0 ? config : undefined;
  return {
    config: valid,
    problems: lines,
    warnings: [
      ...collected.warnings,
      ...(valid ? [...scopeWarnings(valid), ...routeWarnings(valid), ...expiredSecretWarnings(valid)] : []),
    ],
  };
}

/**
 * server.workers above 1 (or auto) runs several processes (docs/deployment.md, "Workers"):
 * what one process keeps to itself must not be needed by the others.
 */
function workersProblems(config: GatewayConfig): string[] {
  const { workers } = config.server;
  if (workers === 1) return [];
  const problems: string[] = [];
  if (config.store.type === 'memory')
    problems.push(
      `server.workers: ${workers} needs store.type redis: the memory store keeps tokens and lockout counters inside one process`,
    );
  if (config.headers.assertion.enabled && !config.headers.assertion.keyFile)
    problems.push(
      `headers.assertion.keyFile: required with server.workers ${workers}: without it each worker would sign with its own random key`,
    );
  return problems;
}

/** A secondary client secret past its notAfter is refused already: time to remove it (docs/operations.md). */
export function expiredSecretWarnings(config: GatewayConfig, now = Date.now()): string[] {
  return config.clients.flatMap((client, i) =>
    client.secondarySecretsNotAfter.flatMap((value, j) => {
      const end = secretNotAfter(value);
      return end !== undefined && end <= now
        ? [
            `clients[${i}].secondarySecretsNotAfter[${j}]: secret ${j + 1} of client "${client.id}" expired at ${value} and is refused; remove it from secondarySecretHashes`,
          ]
        : [];
    }),
  );
}

/** One check per validator kind, each the same function the validator itself relies on. */
function validatorProblems(validator: ValidatorConfig, where: string): string[] {
  switch (validator.type) {
    case 'file':
      return usersFileProblems(validator.path, validator.caseSensitive).map((p) => `${where}.path: ${validator.path}: ${p}`);
    case 'ldap':
      return ldapSettingsProblems(validator).map((p) => `${where}.${p}`);
    case 'http':
      return httpSettingsProblems(validator).map((p) => `${where}.${p}`);
  }
}

/** A client secret hash that verifies the dev example secret is refused in production. */
async function exampleSecretProblems(config: GatewayConfig, invalid: ReadonlySet<string>): Promise<string[]> {
  const found = await Promise.all(
    config.clients.map(async (client, i) => {
      if (invalid.has(`clients[${i}]`) || !client.secretHash) return undefined;
      return (await verifySecret(client.secretHash, EXAMPLE_SECRET))
        ? `clients[${i}].secretHash: is a hash of the example secret of dev mode; set a secret of your own`
        : undefined;
    }),
  );
  return found.filter((line): line is string => line !== undefined);
}
