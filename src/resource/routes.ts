/**
 * Route rules (DESIGN §6 `routes`): an ordered list, first match wins, compiled once at
 * startup. No match → a valid token is required (the secure default).
 *
 * Globs, matched against the raw (undecoded) request path: `*` matches within one path
 * segment, `**` (a whole segment) any number of segments, zero included: `/admin/**`
 * matches `/admin`, and a `**` between two segments matches `/a/z` as well as `/a/b/c/z`. The config loader has already refused malformed rules
 * (resource-checks.ts); compiling trusts it but still names the rule if a pattern fails.
 */
import type { RouteConfig } from '../config/types.js';

/** Where a route's requests go, with that upstream's own timeout and CA. */
export interface UpstreamTarget {
  /** Base URL (http:// or https://); its path is prepended to the request path. */
  readonly url: string;
  /** Time the upstream has to start its answer (504 after it). */
  readonly timeoutMs: number;
  /** PEM CA bundle to verify an https upstream; '' = the system CAs. */
  readonly caFile: string;
}

export interface CompiledRoute {
  /** Index in `routes`, or -1 for the implicit default rule. */
  readonly index: number;
  /** Label for logs and metrics: the rule's path pattern, or `(default)`. */
  readonly label: string;
  readonly auth: RouteConfig['auth'];
  readonly scopes: readonly string[];
  readonly scopeMode: RouteConfig['scopeMode'];
  readonly groups: readonly string[];
  readonly upstream: UpstreamTarget;
  /** For `bearer-or-basic`: the client whose validator chain checks Basic credentials. */
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
    if (glob.startsWith('/**', i) && (i + 3 === glob.length || glob[i + 3] === '/')) {
      // `/**` at the end or before another segment: zero or more whole segments.
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

/**
 * Compiles the rules. `defaults` is the top-level `upstream` (url, timeoutMs, caFile).
 * @throws Error naming the rule's index when a rule cannot be compiled.
 */
export function compileRoutes(routes: readonly RouteConfig[], defaults: UpstreamTarget): RouteMatcher {
  const rules: Rule[] = routes.map((r, index) => {
    let pattern: RegExp;
    try {
      pattern = globToRegExp(r.path);
    } catch (err) {
      throw new Error(`routes[${index}].path: cannot be compiled: ${(err as Error).message}`, { cause: err });
    }
    return {
      pattern,
      methods: r.methods.length ? new Set(r.methods) : null,
      route: {
        index,
        label: r.path,
        auth: r.auth,
        scopes: r.scopes,
        scopeMode: r.scopeMode,
        groups: r.groups,
        upstream: targetOf(r, defaults),
        basicClient: r.basicClient,
      },
    };
  });
  const fallback: CompiledRoute = {
    index: -1,
    label: '(default)',
    auth: 'bearer',
    scopes: [],
    scopeMode: 'all',
    groups: [],
    upstream: defaults,
    basicClient: '',
  };
  return (method, path) => {
    for (const rule of rules) {
      if ((rule.methods === null || rule.methods.has(method)) && rule.pattern.test(path)) return rule.route;
    }
    return fallback;
  };
}

/** Every distinct upstream the rules name (and the default), so agents are built at startup. */
export function upstreamTargets(routes: readonly RouteConfig[], defaults: UpstreamTarget): UpstreamTarget[] {
  const targets = new Map<string, UpstreamTarget>();
  for (const t of [defaults, ...routes.map((r) => targetOf(r, defaults))]) {
    if (t.url) targets.set(`${t.url}\0${t.caFile}`, t);
  }
  return [...targets.values()];
}

/** A rule's upstream: its own keys, each falling back to the top-level `upstream`. */
function targetOf(r: RouteConfig, defaults: UpstreamTarget): UpstreamTarget {
  return { url: r.upstream || defaults.url, timeoutMs: r.upstreamTimeoutMs || defaults.timeoutMs, caFile: r.upstreamCaFile || defaults.caFile };
}
