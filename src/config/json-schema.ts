/**
 * The JSON Schema of the gateway configuration, generated from the convict schema
 * (src/config/schema.ts) and the list item specs (src/config/items.ts) — the single source of
 * truth. The Helm chart's values.schema.json holds it under `properties.config`,
 * so `helm install` rejects an unknown or mistyped configuration key before a pod starts.
 * `npm run generate` writes it (src/config/generated-files.ts); test/unit/generated-files.test.ts
 * fails when the chart's copy is stale.
 */
import { schema } from './schema.js';
import { clientSpec, routeSpec, validatorSpecs, type FieldSpec, type ItemSpec } from './items.js';

export type JsonSchema = Record<string, unknown>;

interface Leaf {
  readonly doc: string;
  readonly format: unknown;
  readonly default: unknown;
  readonly sensitive?: boolean;
}

const isLeaf = (node: unknown): node is Leaf => typeof node === 'object' && node !== null && 'doc' in node && 'default' in node;

/** The list item schemas of the `list` keys, by key. */
const LISTS: Readonly<Record<string, JsonSchema>> = {
  clients: itemSchema(clientSpec),
  validators: {
    type: 'object',
    required: ['type'],
    properties: { type: { type: 'string', enum: Object.keys(validatorSpecs) } },
    // One branch per validator type; `type` selects it.
    allOf: Object.entries(validatorSpecs).map(([type, spec]) => ({
      if: { properties: { type: { const: type } }, required: ['type'] },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword (draft 7 §6.6), not a thenable
      then: itemSchema(spec),
    })),
  },
  routes: itemSchema(routeSpec),
};

/** The schema of the whole configuration (every key optional, as in a config file). */
export function configJsonSchema(): JsonSchema {
  return node(schema as unknown as Record<string, unknown>, '');
}

function node(tree: Record<string, unknown>, path: string): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [key, child] of Object.entries(tree)) {
    const childPath = path ? `${path}.${key}` : key;
    properties[key] = isLeaf(child) ? leaf(child, childPath) : node(child as Record<string, unknown>, childPath);
  }
  return { type: 'object', additionalProperties: false, properties };
}

function leaf(spec: Leaf, path: string): JsonSchema {
  const out: JsonSchema = { description: spec.doc, ...formatSchema(spec.format, path) };
  if (!spec.sensitive) out['default'] = spec.default;
  return out;
}

function formatSchema(format: unknown, path: string): JsonSchema {
  if (Array.isArray(format)) return { type: 'string', enum: format };
  switch (format) {
    case 'port':
      return { type: 'integer', minimum: 0, maximum: 65535 };
    case 'positive-int':
      return { type: 'integer', minimum: 1 };
    case 'non-negative-int':
      return { type: 'integer', minimum: 0 };
    case 'ratio':
      return { type: 'number', minimum: 0, maximum: 1 };
    case 'workers':
      return {
        oneOf: [
          { type: 'integer', minimum: 1 },
          { type: 'string', enum: ['auto'] },
        ],
      };
    case 'boolean':
      return { type: 'boolean' };
    case 'string':
      return { type: 'string' };
    case 'http-url':
      return { type: 'string', pattern: '^(https?://.+)?$' };
    case 'redis-url':
      return { type: 'string', pattern: '^(rediss?://.+)?$' };
    case 'url-path':
      return { type: 'string', pattern: '^/[!-~]*$' };
    case 'host-port-list':
      return { type: 'array', items: { type: 'string', pattern: '^[^\\s:]+:\\d{1,5}$' } };
    case 'header-name-list':
      return { type: 'array', items: { type: 'string', pattern: "^[!#$%&'*+.^`|~0-9A-Za-z-]+$" } };
    case 'path-list':
      return { type: 'array', items: { type: 'string', minLength: 1 } };
    case 'string-map':
      return { type: 'object', additionalProperties: { type: 'string' } };
    case 'list': {
      const items = LISTS[path];
      if (!items) throw new Error(`config-json-schema: no item schema for the list ${path}`);
      return { type: 'array', items };
    }
    default:
      throw new Error(`config-json-schema: ${path} has the format ${String(format)}, unknown here; add it`);
  }
}

function itemSchema(spec: ItemSpec): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [key, field] of Object.entries(spec)) {
    properties[key] = fieldSchema(field);
    if (field.required) required.push(key);
  }
  return { type: 'object', additionalProperties: false, ...(required.length ? { required } : {}), properties };
}

function fieldSchema(field: FieldSpec): JsonSchema {
  const out: JsonSchema = { description: field.doc };
  switch (field.type) {
    case 'string':
      Object.assign(out, { type: 'string' }, field.oneOf ? { enum: field.oneOf } : {}, field.required ? { minLength: 1 } : {});
      break;
    case 'boolean':
      out['type'] = 'boolean';
      break;
    case 'integer':
      Object.assign(out, { type: 'integer', minimum: field.min ?? 0 });
      break;
    case 'string-list':
      Object.assign(
        out,
        { type: 'array', items: field.oneOf ? { type: 'string', enum: field.oneOf } : { type: 'string' } },
        field.required ? { minItems: 1 } : {},
      );
      break;
    case 'string-map':
      Object.assign(out, { type: 'object', additionalProperties: { type: 'string' } });
      break;
    case 'string-list-map':
      Object.assign(out, { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } });
      break;
    case 'object':
      Object.assign(out, field.fields ? itemSchema(field.fields) : { type: 'object' });
      break;
    default:
      throw new Error(`config-json-schema: the field type ${String((field as { type: unknown }).type)} is unknown here; add it`);
  }
  if (field.default !== undefined && !field.sensitive) out['default'] = field.default;
  return out;
}
