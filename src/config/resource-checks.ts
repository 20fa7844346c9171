/**
 * Startup checks of the resource-path configuration: route rules, upstream URLs and CA files,
 * the decision endpoint, TLS files and the listener limits. Each problem is one line naming
 * the key (`routes[2].path: …`); the loader reports them all at once.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { GatewayConfig, RouteConfig } from './types.js';
import { canonicalPath } from '../resource/canonical-path.js';
import { readUrl } from './url-check.js';

/** A method token (RFC 9110 §9.1), upper case by convention and here by rule. */
const METHOD = /^[A-Z][A-Z0-9_-]*$/;

/** Appends one line per problem to `problems`. */
export function checkResourceConfig(config: GatewayConfig, problems: string[]): void {
  for (const [i, route] of config.routes.entries()) checkRoute(config, route, `routes[${i}]`, problems);
  checkShadowing(config.routes, problems);
  checkUpstreamUrl(config.upstream.url, 'upstream.url', problems);
  if (config.upstream.caFile) checkReadable(config.upstream.caFile, 'upstream.caFile', problems);
  checkDecision(config, problems);
  checkTls(config, problems);
  const { headersTimeoutMs, requestTimeoutMs } = config.server.limits;
  if (headersTimeoutMs > requestTimeoutMs)
    problems.push('server.limits.headersTimeoutMs: must not be larger than server.limits.requestTimeoutMs');
}

/** The syntax problem of a route path glob, or null. */
export function globProblem(path: string): string | null {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (!/^[\x21-\x7e]+$/.test(path)) return 'must be printable ASCII without spaces (percent-encode other characters)';
  if (/[?#]/.test(path)) return 'must not contain "?" or "#": rules match the path only';
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') return 'must not contain "." or ".." segments (such requests are refused before matching)';
    if (segment.includes('**') && segment !== '**') return '"**" must be a whole path segment (as in /a/**/b or /a/**)';
  }
  // Rules match canonical paths (docs/routing.md): a rule in another spelling would never match.
  let canonical: string;
  try {
    canonical = canonicalPath(path);
  } catch (err) {
    return `has no canonical form: ${(err as Error).message.replace(/^the request path /, '')}`;
  }
  if (canonical !== path) return `must be written in canonical form, as ${canonical}`;
  return null;
}

function checkRoute(config: GatewayConfig, route: RouteConfig, where: string, problems: string[]): void {
  const pathProblem = typeof route.path === 'string' ? globProblem(route.path) : null;
  if (pathProblem) problems.push(`${where}.path: ${pathProblem}`);
  for (const m of route.methods) if (!METHOD.test(m)) problems.push(`${where}.methods: "${m}" is not an upper-case HTTP method`);

  if (route.auth === 'none') {
    if (route.scopes.length) problems.push(`${where}.scopes: has no effect on a public route (auth: none)`);
    if (route.groups.length) problems.push(`${where}.groups: has no effect on a public route (auth: none)`);
  }
  if (route.auth === 'bearer-or-basic') {
    const client = config.clients.find((c) => c.id === route.basicClient);
    if (!client) problems.push(`${where}.basicClient: must name a configured client for auth: bearer-or-basic`);
    else if (client.validators.length === 0)
      problems.push(`${where}.basicClient: the client "${client.id}" has no validator to check Basic credentials with`);
  } else if (route.basicClient) {
    problems.push(`${where}.basicClient: only used with auth: bearer-or-basic`);
  }

  if (route.upstream) checkUpstreamUrl(route.upstream, `${where}.upstream`, problems);
  if (route.upstreamCaFile) {
    checkReadable(route.upstreamCaFile, `${where}.upstreamCaFile`, problems);
    const upstream = route.upstream || config.upstream.url;
    if (upstream && !upstream.startsWith('https:'))
      problems.push(`${where}.upstreamCaFile: has no effect: the route's upstream is not https://`);
  }
}

/** A rule after a catch-all (or the same path) that covers all its methods can never match. */
function checkShadowing(routes: readonly RouteConfig[], problems: string[]): void {
  routes.forEach((later, j) => {
    const i = routes.findIndex((earlier, k) => {
      if (k >= j) return false;
      const coversPath = earlier.path === '/**' || earlier.path === later.path;
      const coversMethods =
        earlier.methods.length === 0 || (later.methods.length > 0 && later.methods.every((m) => earlier.methods.includes(m)));
      return coversPath && coversMethods;
    });
    if (i !== -1)
      problems.push(
        `routes[${j}]: never matches: routes[${i}] (${routes[i]?.path}) comes first and matches every request it would (first match wins)`,
      );
  });
}

function checkUpstreamUrl(value: string, where: string, problems: string[]): void {
  if (!value) return;
  const url = readUrl(value, ['http:', 'https:']);
  if (url.wrongProtocol) problems.push(`${where}: must be an http:// or https:// URL`);
  if (!url.url) return;
  if (url.credentials) problems.push(`${where}: must not carry credentials`);
  if (url.query || url.fragment) problems.push(`${where}: must not have a query or fragment`);
}

function checkDecision(config: GatewayConfig, problems: string[]): void {
  if (!config.decision.enabled) return;
  if (!(config.decision.ingress as string))
    problems.push(
      'decision.ingress: required when decision.enabled (nginx, traefik or envoy: the only source the original request is read from)',
    );
  const decision = config.decision.path;
  if (decision.replace(/\/+$/, '') === '')
    problems.push('decision.path: must not be "/" (the endpoint owns its path and everything below it)');
  for (const [name, path] of Object.entries(config.oauth.paths)) {
    if (path === decision || path.startsWith(`${decision.replace(/\/$/, '')}/`)) {
      problems.push(
        `decision.path: collides with oauth.paths.${name} (${path}); the decision endpoint owns its path and everything below it`,
      );
    }
  }
}

function checkTls(config: GatewayConfig, problems: string[]): void {
  const { certFile, keyFile } = config.server.tls;
  if (!certFile || !keyFile) return;
  const cert = checkReadable(certFile, 'server.tls.certFile', problems);
  const key = checkReadable(keyFile, 'server.tls.keyFile', problems);
  if (!cert || !key) return;
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    problems.push(`server.tls: the certificate and key are not a usable pair: ${(err as Error).message}`);
  }
}

function checkReadable(file: string, where: string, problems: string[]): Buffer | null {
  try {
    return readFileSync(file);
  } catch (err) {
    problems.push(`${where}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return null;
  }
}

/**
 * Warnings about route rules that are valid but easy to misread: a rule with `methods` judges
 * only those methods, and every other method on its path falls through to the rules after it
 * (often a catch-all that asks for less). Silenced by a later rule for the same path without
 * `methods`.
 */
export function routeWarnings(config: Pick<GatewayConfig, 'routes'>): string[] {
  const warnings: string[] = [];
  config.routes.forEach((rule, i) => {
    if (rule.methods.length === 0) return;
    const covered = config.routes.some((later, j) => j > i && later.path === rule.path && later.methods.length === 0);
    if (!covered) {
      warnings.push(
        `routes[${i}].methods: only ${rule.methods.join(', ')} on ${rule.path} are judged by this rule; every other method falls through to the rules after it (add a rule for ${rule.path} without methods to cover them)`,
      );
    }
  });
  return warnings;
}
