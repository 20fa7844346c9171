/**
 * Which scopes a user may be granted through a client (docs/validators.md, "Scopes and groups"):
 *
 * 1. A client's `scopes` is its ceiling: nothing outside it is ever granted through it.
 * 2. A scope that ANY validator's `groupScopes` names is *gated*: it is granted only to a user
 *    whose validator (the one that authenticated them) maps one of the user's groups to it.
 *    Group names match ignoring case, as directories compare them.
 * 3. Every other scope of the client is open to every user of the client.
 *
 * So `groupScopes` only ever narrows: it never adds a scope the client does not list.
 * Built once at startup from the configuration; pure and synchronous.
 */
import type { ValidatorConfig } from '../config/types.js';

/** The client fields the policy reads. */
export interface ScopeClient {
  readonly scopes: readonly string[];
  readonly defaultScopes: readonly string[];
}

export class ScopePolicy {
  /** Every scope some validator's groupScopes names. */
  readonly #gated: ReadonlySet<string>;
  /** Validator name -> lower-cased group name -> scopes. */
  readonly #byValidator: ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<string>>>;

  constructor(validators: readonly Pick<ValidatorConfig, 'name' | 'groupScopes'>[]) {
    const gated = new Set<string>();
    const byValidator = new Map<string, Map<string, Set<string>>>();
    for (const v of validators) {
      const groups = new Map<string, Set<string>>();
      for (const [group, scopes] of Object.entries(v.groupScopes)) {
        const key = group.toLowerCase();
        const set = groups.get(key) ?? new Set<string>();
        for (const s of scopes) {
          set.add(s);
          gated.add(s);
        }
        groups.set(key, set);
      }
      byValidator.set(v.name, groups);
    }
    this.#gated = gated;
    this.#byValidator = byValidator;
  }

  /** True when some validator's groupScopes names `scope`. */
  isGated(scope: string): boolean {
    return this.#gated.has(scope);
  }

  /** Every gated scope, sorted. */
  get gatedScopes(): readonly string[] {
    return [...this.#gated].sort();
  }

  /**
   * The scopes `client` may grant to a user that `validator` authenticated with `groups`:
   * the client's scopes, without the gated ones the user's groups do not map to.
   */
  grantable(client: Pick<ScopeClient, 'scopes'>, validator: string, groups: readonly string[]): Set<string> {
    const mapped = this.#byValidator.get(validator);
    const earned = new Set<string>();
    if (mapped) {
      for (const g of groups) for (const s of mapped.get(g.toLowerCase()) ?? []) earned.add(s);
    }
    return new Set(client.scopes.filter((s) => !this.#gated.has(s) || earned.has(s)));
  }
}
