/** `ropc-gateway check-config --config FILE`: the checks of start, nothing connected; one line per problem, exit 2. */
import { resolveWorkers } from '../cluster/cpus.js';
import { checkedConfig, requireConfig } from './config-file.js';

export async function checkConfigCommand(args: readonly string[]): Promise<number> {
  const config = await checkedConfig({ mode: 'production', file: requireConfig(args) });
  process.stdout.write('configuration OK\n');
  const { workers } = config.server;
  if (workers !== 1)
    process.stdout.write(`server.workers: ${workers}${workers === 'auto' ? ` = ${resolveWorkers(workers)}` : ''} worker processes\n`);
  return 0;
}
