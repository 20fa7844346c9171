/**
 * The files generated from the configuration schema (src/config/schema.ts and items.ts), the
 * single source of truth: the configuration reference, the list of environment variables and
 * the `config` part of the Helm chart's values.schema.json. `npm run generate` writes them;
 * test/unit/generated-files.test.ts fails when one is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configurationMarkdown } from './docs.js';
import { configJsonSchema, type JsonSchema } from './json-schema.js';
import { schemaWithEnv } from './load.js';

/** Paths relative to the repository root. */
export const HELM_VALUES_SCHEMA = 'helm/ropc-gateway/values.schema.json';

/** The Helm chart's `properties.config`. */
export function helmConfigSchema(): JsonSchema {
  return {
    description: 'The gateway configuration (docs/configuration.md), generated from src/config/schema.ts and items.ts.',
    ...configJsonSchema(),
  };
}

/** docs/environment.md: every `ROPC_*` variable, the key it sets and its format. */
export function environmentMarkdown(): string {
  const rows: string[] = [];
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [key, child] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const leaf = child as { env?: unknown; format?: unknown; doc?: unknown; default?: unknown };
      if (typeof leaf.doc === 'string' && 'default' in leaf) {
        if (typeof leaf.env === 'string')
          rows.push(
            `| \`${leaf.env}\` | \`${path}\` | ${Array.isArray(leaf.format) ? leaf.format.filter((f) => f !== '').join(' \\| ') : String(leaf.format)} |`,
          );
      } else {
        walk(child as Record<string, unknown>, path);
      }
    }
  };
  walk(schemaWithEnv(), '');
  return [
    '# Environment variables',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run generate`. Do not edit by hand. -->',
    '',
    'Each variable overrides its key from the configuration file (docs/configuration.md). Lists of `host:port` take',
    'comma-separated values; booleans take `true` or `false`. List keys (clients, validators, routes) and maps have no',
    'variable. Any other `ROPC_*` variable is refused by `check-config` and `start` (a typo would otherwise be ignored).',
    '',
    '| variable | key | format |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/** Every generated file: path (relative to `root`) -> its content as it must be. */
export function generatedFiles(root: string): Record<string, string> {
  const values = JSON.parse(readFileSync(join(root, HELM_VALUES_SCHEMA), 'utf8')) as { properties: Record<string, unknown> };
  values.properties['config'] = helmConfigSchema();
  return {
    'docs/configuration.md': configurationMarkdown(),
    'docs/environment.md': environmentMarkdown(),
    [HELM_VALUES_SCHEMA]: `${JSON.stringify(values, null, 2)}\n`,
  };
}

// `node dist/config/generated-files.js` (npm run generate) writes them into the repository.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(fileURLToPath(import.meta.url), '../../..');
  for (const [path, content] of Object.entries(generatedFiles(root))) {
    writeFileSync(join(root, path), content);
    process.stdout.write(`wrote ${path}\n`);
  }
}
