/**
 * Builds the configured password credential validators (docs/validators.md), once, at startup.
 *
 * One `case` per validator type: adding a backend is an import and its `case` line.
 */
import type { ValidatorConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { FileValidator } from './file.js';
import { HttpValidator } from './http.js';
import { LdapValidator } from './ldap.js';
import type { PasswordValidator } from './types.js';
import { withSubjectPrefix } from './subject-prefix.js';

/**
 * Builds every validator in configuration order, keyed by `validators[].name`.
 * If one cannot be built, those already built are closed and the error is rethrown with each
 * line prefixed by `validators[i] (name): `, so the operator sees which entry is at fault.
 * @throws Error when a validator cannot be built (bad users file, bad LDAP or HTTP settings…).
 */
export async function createValidators(configs: readonly ValidatorConfig[], logger: Logger): Promise<Map<string, PasswordValidator>> {
  const built = new Map<string, PasswordValidator>();
  try {
    for (const [i, config] of configs.entries()) {
      const prefix = `validators[${i}] (${config.name}): `;
      if (built.has(config.name)) throw new Error(`${prefix}the name is used by an earlier validator`);
      try {
        built.set(config.name, withSubjectPrefix(await createValidator(config, logger), config.subjectPrefix));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new Error(
          message
            .split('\n')
            .map((line) => prefix + line)
            .join('\n'),
          { cause: err },
        );
      }
    }
  } catch (err) {
    await Promise.allSettled([...built.values()].map((v) => v.close()));
    throw err;
  }
  return built;
}

function createValidator(config: ValidatorConfig, logger: Logger): Promise<PasswordValidator> {
  switch (config.type) {
    case 'file':
      return FileValidator.open(config, logger);
    case 'ldap':
      return LdapValidator.open(config, logger);
    case 'http':
      return HttpValidator.open(config, logger);
    default: {
      const unknown: never = config;
      throw new Error(`unknown validator type ${JSON.stringify((unknown as { type: unknown }).type)}`);
    }
  }
}
