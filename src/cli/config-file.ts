/**
 * The configuration file of a command: `--config FILE`, checked as check-config checks it
 * (src/config/validate.ts) before anything connects.
 */
import { ConfigError, type LoadOptions } from '../config/load.js';
import { validateConfig } from '../config/validate.js';
import type { GatewayConfig } from '../config/types.js';
import { isWorker } from '../cluster/worker.js';

/**
 * Runs validateConfig (src/config/validate.ts): warnings go to stderr, problems are thrown as
 * one ConfigError (printed one line each, exit 2).
 */
export async function checkedConfig(options: LoadOptions): Promise<GatewayConfig> {
  const { config, problems, warnings } = await validateConfig(options);
  // A worker of server.workers checks the file again; its supervisor has printed the warnings.
  if (!isWorker()) for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems);
  return config;
}

export function requireConfig(args: readonly string[]): string {
  const i = args.indexOf('--config');
  const file = i === -1 ? undefined : args[i + 1];
  if (!file) throw new ConfigError(['--config: a configuration file is required (ropc-gateway start --config FILE)']);
  return file;
}
