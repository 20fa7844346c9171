/**
 * Route rules (docs/routing.md): an ordered list, first match wins, compiled once at
 * startup. No match → a valid token is required (the secure default).
 *
 * Globs, matched against the canonical request path (canonical-path.ts), case-insensitively
 * unless `server.caseSensitivePaths`: `*` matches within one path segment, `**` (a whole
 * segment) any number of segments, zero included: `/admin/**` matches `/admin`, and a `**`
 * between two segments matches `/a/z` as well as `/a/b/c/z`. The config loader has already
 * refused malformed rules (resource-checks.ts); compiling trusts it but still names the rule
 * if a pattern fails.
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
  /** `pathParameters: allow`: a `;` path parameter is accepted on this rule. */
  readonly allowsParameters: boolean;
}

interface Rule {
  readonly pattern: RegExp;
  /** The same glob, case-sensitive: a case-insensitive matcher also asks it (see {@link RouteMatcher.judging}). */
  readonly exact: RegExp;
  readonly methods: ReadonlySet<string> | null;
  readonly route: CompiledRoute;
}

export interface RouteMatcher {
  /** The first rule matching `method` and the canonical `path`. */
  (method: string, path: string): CompiledRoute;
  /**
   * Every rule that some reading of the request could mean, the first one first: the rule
   * for each of `paths` (the canonical path, and the path without `;` parameters when it has
   * them), and when matching ignores case, also the rule the exact case matches. A
   * case-sensitive upstream may serve `/PUBLIC/x` as another resource than `/public/x`: the
   * request must satisfy both rules, so ignoring case never makes a rule more permissive.
   */
  judging(method: string, paths: readonly string[]): CompiledRoute[];
}

/**
 * What a case-insensitive upstream compares, for a canonical path (or rule): percent-encoded
 * non-ASCII decoded to its characters (IIS and .NET fold `%C3%89` É onto `%C3%A9` é), then
 * case folded (upper then lower, so `ß` and `SS` meet too). Encoded ASCII (`%3F`…) stays
 * encoded, so no separator can appear.
 */
export function caseFoldKey(path: string): string {
  const decoded = path.replace(/(?:%[89A-F][0-9A-F])+/g, (sequence) => {
    try {
      return decodeURIComponent(sequence);
    } catch {
      return sequence;
    }
  });
  return decoded.toUpperCase().toLowerCase();
}

export function globToRegExp(glob: string, flags = ''): RegExp {
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
  return new RegExp(`^${source}$`, flags);
}

/**
 * Compiles the rules. `defaults` is the top-level `upstream` (url, timeoutMs, caFile).
 * @throws Error naming the rule's index when a rule cannot be compiled.
 */
export function compileRoutes(
  routes: readonly RouteConfig[],
  defaults: UpstreamTarget,
  options: { caseSensitive: boolean } = { caseSensitive: false },
): RouteMatcher {
  const rules: Rule[] = routes.map((r, index) => {
    let pattern: RegExp;
    let exact: RegExp;
    try {
      exact = globToRegExp(r.path);
      pattern = options.caseSensitive ? exact : globToRegExp(caseFoldKey(r.path));
    } catch (err) {
      throw new Error(`routes[${index}].path: cannot be compiled: ${(err as Error).message}`, { cause: err });
    }
    return {
      pattern,
      exact,
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
        allowsParameters: r.pathParameters === 'allow',
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
    allowsParameters: false,
  };
  const first = (method: string, path: string, exactCase: boolean): CompiledRoute => {
    const key = exactCase || options.caseSensitive ? path : caseFoldKey(path);
    for (const rule of rules) {
      if ((rule.methods === null || rule.methods.has(method)) && (exactCase ? rule.exact : rule.pattern).test(key)) return rule.route;
    }
    return fallback;
  };
  const match = (method: string, path: string): CompiledRoute => first(method, path, false);
  const judging = (method: string, paths: readonly string[]): CompiledRoute[] => {
    const found = new Set<CompiledRoute>();
    for (const path of paths) {
      found.add(first(method, path, false));
      if (!options.caseSensitive) found.add(first(method, path, true));
    }
    return [...found];
  };
  return Object.assign(match, { judging });
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
  return {
    url: r.upstream || defaults.url,
    timeoutMs: r.upstreamTimeoutMs || defaults.timeoutMs,
    caFile: r.upstreamCaFile || defaults.caFile,
  };
}
