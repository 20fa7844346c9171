/**
 * The loaded, validated configuration, DERIVED from the schema (schema.ts) and the list item
 * specs (items.ts): a key added there appears here with its type, so the two cannot drift
 * apart. Only what the loader adds or narrows is written by hand below (`mode`, the secrets it
 * reads from `…File` keys, the resolved validator chain, `store.type` without its empty default).
 */
import type { FieldSpec, ItemSpec } from './items.js';
import type { clientSpec, routeSpec, validatorSpecs } from './items.js';
import type { schema } from './schema.js';

/** The value type of a schema leaf's `format`. */
type FormatValue<F> = F extends readonly (infer U)[]
  ? U
  : F extends 'port' | 'positive-int' | 'non-negative-int' | 'ratio'
    ? number
    : F extends 'workers'
      ? number | 'auto'
      : F extends 'boolean'
        ? boolean
        : F extends 'host-port-list' | 'header-name-list' | 'path-list'
          ? readonly string[]
          : F extends 'string-map'
            ? Readonly<Record<string, string>>
            : F extends 'list'
              ? readonly unknown[]
              : string;

/** The values of a schema subtree: leaves (`{doc, format, default}`) become their value type. */
export type SchemaValues<S> = {
  readonly [K in keyof S]: S[K] extends { readonly doc: string; readonly format: infer F; readonly default: unknown }
    ? FormatValue<F>
    : SchemaValues<S[K]>;
};

type OneOf<F, Otherwise> = F extends { readonly oneOf: readonly (infer U)[] } ? U : Otherwise;

/** The value type of a list item field. */
type FieldValue<F extends FieldSpec> = F['type'] extends 'string'
  ? OneOf<F, string>
  : F['type'] extends 'boolean'
    ? boolean
    : F['type'] extends 'integer'
      ? number
      : F['type'] extends 'string-list'
        ? readonly OneOf<F, string>[]
        : F['type'] extends 'string-map'
          ? Readonly<Record<string, string>>
          : F['type'] extends 'string-list-map'
            ? Readonly<Record<string, readonly string[]>>
            : F extends { readonly fields: infer N extends ItemSpec }
              ? ItemValues<N>
              : Readonly<Record<string, unknown>>;

/** The values of a list item, every field present (the loader applies the defaults). */
export type ItemValues<S extends ItemSpec> = { readonly [K in keyof S]: S[K] extends FieldSpec ? FieldValue<S[K]> : never };

type Override<T, U> = Omit<T, keyof U> & U;
type Specs = typeof validatorSpecs;

/**
 * The `…File` secret keys are consumed by the loader: the secret they hold is in the key
 * named below (`secret`, `bindPassword`, `headers`, `password`), so they are not part of the
 * loaded types.
 */
export type ClientConfig = Override<
  Omit<ItemValues<typeof clientSpec>, 'secretFile'>,
  {
    /** The plain secret read from secretFile (never logged); '' otherwise. */
    readonly secret: string;
    /** Resolved chain: never empty after loading for a client with the password grant. */
    readonly validators: readonly string[];
  }
>;

export type FileValidatorConfig = Override<ItemValues<Specs['file']>, { readonly type: 'file' }>;

export type LdapValidatorConfig = Override<
  Omit<ItemValues<Specs['ldap']>, 'bindPasswordFile'>,
  {
    readonly type: 'ldap';
    /** From bindPassword or bindPasswordFile. */
    readonly bindPassword: string;
    // Optional for configurations built in code (tests): the LDAP settings fill the defaults.
    readonly directory?: ItemValues<Specs['ldap']>['directory'];
    readonly activeDirectory?: Partial<ItemValues<Specs['ldap']>['activeDirectory']>;
    readonly groups: Override<ItemValues<Specs['ldap']>['groups'], { readonly nested?: boolean }>;
  }
>;

export type HttpValidatorConfig = Override<
  Omit<ItemValues<Specs['http']>, 'headersFile'>,
  {
    readonly type: 'http';
    /** Static headers read from headersFile. */
    readonly headers: Readonly<Record<string, string>>;
  }
>;

export type ValidatorConfig = FileValidatorConfig | LdapValidatorConfig | HttpValidatorConfig;

/** `upstreamCaFile` is the resolved path; '' = upstream.caFile. `upstreamTimeoutMs` 0 = upstream.timeoutMs. */
export type RouteConfig = ItemValues<typeof routeSpec>;

type Values = SchemaValues<typeof schema>;

export type GatewayConfig = Override<
  Values,
  {
    /** dev: `start-dev` (embedded defaults); production: `start --config`. */
    readonly mode: 'dev' | 'production';
    readonly clients: readonly ClientConfig[];
    readonly validators: readonly ValidatorConfig[];
    readonly routes: readonly RouteConfig[];
    readonly store: Override<
      Values['store'],
      {
        /** An empty store.type is memory once loaded (the dev default; production requires it). */
        readonly type: 'redis' | 'memory';
        /** password and sentinelPassword hold the secret of their `…File` key when that is set. */
        readonly redis: Omit<Values['store']['redis'], 'passwordFile' | 'sentinelPasswordFile'>;
      }
    >;
  }
>;

/** Where the decision endpoint reads the original request from (docs/routing.md); '' only while decision.enabled is false. */
export type DecisionIngress = Exclude<GatewayConfig['decision']['ingress'], ''>;
