/**
 * Route rules (DESIGN §6 `routes`): an ordered list, first match wins, compiled once at
 * startup. No match → a valid token is required (the secure default).
 *
 * Globs: `*` matches within one path segment, `**` any number of segments; a trailing
 * `/**` also matches the bare prefix (`/admin/**` matches `/admin`).
 */
import type { RouteConfig } from '../config/types.js';

export interface CompiledRoute {
  /** Index in `routes`, or -1 for the implicit default rule. */
  readonly index: number;
  /** Label for logs and metrics: the rule's path pattern. */
  readonly label: string;
  readonly auth: RouteConfig['auth'];
  readonly scopes: readonly string[];
  readonly scopeMode: RouteConfig['scopeMode'];
  readonly groups: readonly string[];
  /** Upstream base URL for this route. */
  readonly upstream: string;
  readonly basicClient: string;
}

interface Rule {
  readonly pattern: RegExp;
  readonly methods: ReadonlySet<string> | null;
  readonly route: CompiledRoute;
}

export type RouteMatcher = (method: string, path: string) => CompiledRoute;

export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; ) {
    if (glob.startsWith('/**', i) && i + 3 === glob.length) {
      source += '(?:/.*)?';
      i += 3;
    } else if (glob.startsWith('**', i)) {
      source += '.*';
      i += 2;
    } else if (glob[i] === '*') {
      source += '[^/]*';
      i += 1;
    } else {
      source += (glob[i] as string).replace(/[.+?^${}()|[\]\\]/g, '\\$&');
      i += 1;
    }
  }
  return new RegExp(`^${source}$`);
}

export function compileRoutes(routes: readonly RouteConfig[], defaultUpstream: string): RouteMatcher {
  const rules: Rule[] = routes.map((r, index) => ({
    pattern: globToRegExp(r.path),
    methods: r.methods.length ? new Set(r.methods) : null,
    route: {
      index,
      label: r.path,
      auth: r.auth,
      scopes: r.scopes,
      scopeMode: r.scopeMode,
      groups: r.groups,
      upstream: r.upstream || defaultUpstream,
      basicClient: r.basicClient,
    },
  }));
  const fallback: CompiledRoute = {
    index: -1,
    label: '(default)',
    auth: 'bearer',
    scopes: [],
    scopeMode: 'all',
    groups: [],
    upstream: defaultUpstream,
    basicClient: '',
  };
  return (method, path) => {
    for (const rule of rules) {
      if ((rule.methods === null || rule.methods.has(method)) && rule.pattern.test(path)) return rule.route;
    }
    return fallback;
  };
}
