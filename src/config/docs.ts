/** Generates docs/configuration.md from the schema (`npm run generate`); test/unit/generated-files.test.ts keeps it fresh. */
import { schema } from './schema.js';
import { clientSpec, routeSpec, validatorSpecs, type ItemSpec } from './items.js';
import { envName } from './load.js';

type Node = Record<string, unknown>;
const isLeaf = (n: unknown): n is Node => typeof n === 'object' && n !== null && 'doc' in n && 'default' in n;

function show(value: unknown): string {
  if (value === '') return '`""`';
  return `\`${JSON.stringify(value).replace(/\|/g, '\\|')}\``;
}

function format(f: unknown): string {
  return Array.isArray(f) ? f.filter((x) => x !== '').join(' \\| ') : String(f);
}

function scalarRows(node: Node, prefix: string, rows: string[]): void {
  for (const [key, child] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isLeaf(child)) {
      const scalar = child.format !== 'list' && child.format !== 'string-map';
      const def = child.sensitive ? '(secret)' : show(child.default);
      rows.push(`| \`${path}\` | ${format(child.format)} | ${def} | ${scalar ? `\`${envName(path)}\`` : '—'} | ${child.doc as string} |`);
    } else {
      scalarRows(child as Node, path, rows);
    }
  }
}

function itemRows(spec: ItemSpec, prefix: string, rows: string[]): void {
  for (const [key, field] of Object.entries(spec)) {
    const path = `${prefix}.${key}`;
    const def = field.required ? '**required**' : field.sensitive ? '(secret)' : show(field.default);
    const allowed = field.oneOf ? ` One of: ${field.oneOf.join(', ')}.` : '';
    rows.push(`| \`${path}\` | ${field.type} | ${def} | ${field.doc}${allowed} |`);
    if (field.fields) itemRows(field.fields, path, rows);
  }
}

export function configurationMarkdown(): string {
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts and src/config/items.ts by `npm run generate`. Do not edit by hand. -->',
    '',
    'Sources, later ones winning: the schema defaults, the YAML or JSON file given with `--config`, then environment',
    'variables. Every scalar key has an environment variable `ROPC_<PATH>` (camelCase split by `_`, upper case).',
    'Relative file paths in a configuration file resolve against the folder of that file. Keys ending in `File` read a',
    'secret from a file (a Kubernetes secret mount); a trailing newline is ignored. Unknown keys are errors, and every',
    'problem is reported at once, one line per problem, before anything starts.',
    '',
    '## Validation',
    '',
    '`ropc-gateway check-config --config FILE` runs the same check as `start`, without the network (src/config/validate.ts):',
    "the keys and their formats, list items, cross-field rules, then every validator's settings (LDAP URLs, StartTLS,",
    'search settings, filters and attribute names, CA files and their PEM content; HTTP validator URLs and headers), every',
    'users file (readable, valid YAML, argon2id or bcrypt hashes only, no plain `password` key), `…File` secrets, and in',
    'production a client `secretHash` of the dev example secret. Every problem is one line naming its key, reported once;',
    'an entry whose `type` is wrong is not checked further. File problems name the configured and the resolved path, a',
    'value from an environment variable names the variable, and an unknown `ROPC_*` variable is a problem (a typo would',
    'otherwise be ignored). Problems exit 2; `start` exits 2 with the same lines before it opens any connection or',
    'listener. Warnings (an `http://` issuer in production, RFC 8414 §2) are printed but do not stop the gateway. Once the',
    'check passes, an unreachable Redis, directory or upstream is a runtime state (503, `/readyz`), never a configuration',
    'error.',
    '',
    '## Keys',
    '',
    '| key | format | default | environment | meaning |',
    '|---|---|---|---|---|',
  ];
  scalarRows(schema as unknown as Node, '', out);
  const section = (title: string, spec: ItemSpec, prefix: string): void => {
    out.push('', `## ${title}`, '', '| key | type | default | meaning |', '|---|---|---|---|');
    itemRows(spec, prefix, out);
  };
  section('clients[]', clientSpec, 'clients[]');
  for (const [type, spec] of Object.entries(validatorSpecs)) section(`validators[] of type ${type}`, spec, 'validators[]');
  section('routes[]', routeSpec, 'routes[]');
  out.push('');
  return out.join('\n');
}
