/** Route rules: glob compilation, first match wins, methods, per-route upstreams; startup checks naming the rule. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import type { RouteConfig } from '../../src/config/types.js';
import { globProblem } from '../../src/config/resource-checks.js';
import { caseFoldKey, compileRoutes, globToRegExp, upstreamTargets } from '../../src/resource/routes.js';

const DEFAULTS = { url: 'http://127.0.0.1:8080', timeoutMs: 30000, caFile: '' };

function rule(r: Partial<RouteConfig> & { path: string }): RouteConfig {
  return {
    methods: [],
    auth: 'bearer',
    scopes: [],
    scopeMode: 'all',
    groups: [],
    upstream: '',
    upstreamTimeoutMs: 0,
    upstreamCaFile: '',
    basicClient: '',
    pathParameters: 'refuse',
    ...r,
  };
}

describe('globToRegExp', () => {
  const cases: [glob: string, matches: string[], misses: string[]][] = [
    ['/health', ['/health'], ['/health/', '/healthz', '/x/health']],
    ['/api/*', ['/api/x', '/api/'], ['/api', '/api/x/y']],
    ['/api/*/items', ['/api/1/items', '/api//items'], ['/api/1/2/items', '/api/items']],
    ['/admin/**', ['/admin', '/admin/', '/admin/a', '/admin/a/b/c'], ['/administrator', '/x/admin']],
    ['/a/**/z', ['/a/z', '/a/b/z', '/a/b/c/z'], ['/a/z/x', '/b/z']],
    ['/**', ['/', '/x', '/x/y'], []],
    ['/files/*.pdf', ['/files/a.pdf'], ['/files/apdf', '/files/a/b.pdf']],
    ['/v1.0/(x)', ['/v1.0/(x)'], ['/v1x0/(x)', '/v1.0/x']],
  ];
  for (const [glob, matches, misses] of cases) {
    it(glob, () => {
      const re = globToRegExp(glob);
      for (const m of matches) expect(re.test(m), `${glob} should match ${m}`).toBe(true);
      for (const m of misses) expect(re.test(m), `${glob} should not match ${m}`).toBe(false);
    });
  }
});

describe('compileRoutes', () => {
  const match = compileRoutes(
    [
      rule({ path: '/health', auth: 'none' }),
      rule({ path: '/admin/**', methods: ['POST', 'DELETE'], scopes: ['admin'] }),
      rule({ path: '/admin/**', scopes: ['read'] }),
      rule({ path: '/legacy/**', auth: 'bearer-or-basic', basicClient: 'app' }),
      rule({ path: '/billing/**', upstream: 'https://billing.internal:8443/base', upstreamTimeoutMs: 500, upstreamCaFile: '/ca.pem' }),
    ],
    DEFAULTS,
  );

  it('takes the first rule that matches path and method', () => {
    expect(match('GET', '/health')).toMatchObject({ index: 0, auth: 'none', label: '/health' });
    expect(match('POST', '/admin/users')).toMatchObject({ index: 1, scopes: ['admin'] });
    expect(match('GET', '/admin/users')).toMatchObject({ index: 2, scopes: ['read'] });
    expect(match('DELETE', '/admin')).toMatchObject({ index: 1 });
  });

  it('falls back to "a valid token is required" when nothing matches', () => {
    expect(match('GET', '/anything')).toMatchObject({ index: -1, label: '(default)', auth: 'bearer', scopes: [], groups: [] });
    // Methods are case-sensitive tokens (RFC 9110 §9.1): "post" is not POST.
    expect(match('post', '/admin/x')).toMatchObject({ index: 2 });
  });

  it('gives each route its upstream, falling back to the top-level one key by key', () => {
    expect(match('GET', '/billing/x').upstream).toEqual({ url: 'https://billing.internal:8443/base', timeoutMs: 500, caFile: '/ca.pem' });
    expect(match('GET', '/legacy/x')).toMatchObject({ basicClient: 'app', upstream: DEFAULTS });
    expect(match('GET', '/nope').upstream).toEqual(DEFAULTS);
  });

  it('lists every distinct upstream once, for the agents built at startup', () => {
    const targets = upstreamTargets(
      [rule({ path: '/a', upstream: 'http://a:1' }), rule({ path: '/b', upstream: 'http://a:1' }), rule({ path: '/c' })],
      DEFAULTS,
    );
    expect(targets.map((t) => t.url)).toEqual([DEFAULTS.url, 'http://a:1']);
  });
});

describe('globProblem', () => {
  it('accepts the documented forms', () => {
    for (const p of ['/', '/health', '/api/*', '/admin/**', '/a/**/b', '/files/*.pdf', '/caf%C3%A9']) expect(globProblem(p), p).toBeNull();
  });
  it('names what is wrong', () => {
    expect(globProblem('api')).toBe('must start with "/"');
    expect(globProblem('/a b')).toMatch(/printable ASCII/);
    expect(globProblem('/café')).toMatch(/printable ASCII/);
    expect(globProblem('/a?x=1')).toMatch(/"\?" or "#"/);
    expect(globProblem('/a/../b')).toMatch(/"\." or "\.\." segments/);
    expect(globProblem('/a/**b')).toMatch(/whole path segment/);
    expect(globProblem('/a/***')).toMatch(/whole path segment/);
  });
  it('wants the canonical spelling, which is what rules are matched against', () => {
    expect(globProblem('/%61dmin/**')).toBe('must be written in canonical form, as /admin/**');
    expect(globProblem('//admin')).toBe('must be written in canonical form, as /admin');
    expect(globProblem('/caf%c3%a9')).toBe('must be written in canonical form, as /caf%C3%A9');
    expect(globProblem('/a%2fb')).toMatch(/no canonical form: has an encoded slash/);
    expect(globProblem('/a\\b')).toMatch(/no canonical form: has a backslash/);
  });
});

describe('case and the readings of a path', () => {
  const routes = [
    rule({ path: '/public/**', auth: 'none' }),
    rule({ path: '/admin/**', scopes: ['admin'] }),
    rule({ path: '/api/**', scopes: ['read'], pathParameters: 'allow' }),
  ];

  it('ignores case by default (IIS, ASP.NET and Express serve /ADMIN as /admin)', () => {
    const match = compileRoutes(routes, DEFAULTS);
    for (const p of ['/admin/x', '/ADMIN/x', '/Admin', '/aDmIn/x/y']) expect(match('GET', p), p).toMatchObject({ index: 1 });
  });

  it('folds non-ASCII case too, as IIS and .NET compare (the escapes are decoded first)', () => {
    const match = compileRoutes(
      [rule({ path: '/caf%C3%A9/**', scopes: ['admin'] }), rule({ path: '/stra%C3%9Fe/*', scopes: ['admin'] })],
      DEFAULTS,
    );
    for (const p of ['/caf%C3%A9/x', '/CAF%C3%89/x', '/Caf%C3%89', '/STRASSE/x', '/strasse/x', '/STRA%C3%9FE/x'])
      expect(match('GET', p).index, p).not.toBe(-1);
    expect(match('GET', '/cafe/x').index).toBe(-1);
    // An encoded ASCII character is never decoded into a separator.
    expect(caseFoldKey('/a%3F%2Fb/%C3%89')).toBe('/a%3f%2fb/é');
  });

  it('matches case exactly with server.caseSensitivePaths', () => {
    const match = compileRoutes(routes, DEFAULTS, { caseSensitive: true });
    expect(match('GET', '/admin/x')).toMatchObject({ index: 1 });
    expect(match('GET', '/ADMIN/x')).toMatchObject({ index: -1 });
    expect(match.judging('GET', ['/ADMIN/x'])).toEqual([match('GET', '/ADMIN/x')]);
  });

  it('judges a request by every rule a reading could mean: the exact case too', () => {
    const match = compileRoutes(routes, DEFAULTS);
    // A case-sensitive upstream may serve /PUBLIC/x as another resource: the default rule applies as well.
    expect(match.judging('GET', ['/PUBLIC/x']).map((r) => r.index)).toEqual([0, -1]);
    expect(match.judging('GET', ['/public/x']).map((r) => r.index)).toEqual([0]);
    expect(match.judging('GET', ['/ADMIN/x']).map((r) => r.index)).toEqual([1, -1]);
  });

  it('and the path without ";" parameters (Tomcat\'s reading)', () => {
    const match = compileRoutes(routes, DEFAULTS);
    expect(match.judging('GET', ['/api/x;v=1', '/api/x']).map((r) => [r.index, r.allowsParameters])).toEqual([[2, true]]);
    expect(match.judging('GET', ['/admin;x/panel', '/admin/panel']).map((r) => r.index)).toEqual([-1, 1]);
  });
});

describe('route rules at startup', () => {
  const HASH = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
  const dir = mkdtempSync(join(tmpdir(), 'ropc-routes-'));
  writeFileSync(join(dir, 'ca.pem'), 'not a real CA, only read');

  function problems(routes: string, extra = ''): string[] {
    const path = join(dir, `gw-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      path,
      `store: { type: memory }
upstream: { url: "http://127.0.0.1:8080" }
clients:
  - { id: app, secretHash: "${HASH}", scopes: [read] }
validators: [{ name: local, type: file, path: users.yaml }]
routes:
${routes}
${extra}`,
    );
    try {
      loadConfig({ mode: 'production', file: path, env: {} });
    } catch (err) {
      if (err instanceof ConfigError) return [...err.problems];
      throw err;
    }
    return [];
  }

  it('accepts a valid set of rules and resolves a relative upstreamCaFile', () => {
    const path = join(dir, 'ok.yaml');
    writeFileSync(
      path,
      `store: { type: memory }
upstream: { url: "http://127.0.0.1:8080" }
clients: [{ id: app, secretHash: "${HASH}", scopes: [read] }]
validators: [{ name: local, type: file, path: users.yaml }]
routes:
  - { path: /health, auth: none }
  - { path: /legacy/**, auth: bearer-or-basic, basicClient: app }
  - { path: /billing/**, upstream: "https://billing:8443", upstreamCaFile: ca.pem, upstreamTimeoutMs: 100 }
  - { path: /**, scopes: [read] }
`,
    );
    const config = loadConfig({ mode: 'production', file: path, env: {} });
    expect(config.routes[2]).toMatchObject({ upstreamCaFile: join(dir, 'ca.pem'), upstreamTimeoutMs: 100 });
  });

  it('reports every bad rule at once, naming its index', () => {
    const found = problems(`  - { path: "/a/**b" }
  - { path: /x, methods: [get] }
  - { path: /pub, auth: none, scopes: [read], groups: [g] }
  - { path: /legacy, auth: bearer-or-basic, basicClient: ghost }
  - { path: /y, basicClient: app }
  - { path: /z, upstream: "ftp://host" }
  - { path: /w, upstream: "http://user:pw@host/?q=1" }
  - { path: /v, upstreamCaFile: missing.pem }
  - { path: /u, upstream: "http://plain:80", upstreamCaFile: ca.pem }
  - { path: /t, upstreamTimeoutMs: -5 }
`);
    expect(found).toEqual(
      expect.arrayContaining([
        'routes[0].path: "**" must be a whole path segment (as in /a/**/b or /a/**)',
        'routes[1].methods: "get" is not an upper-case HTTP method',
        'routes[2].scopes: has no effect on a public route (auth: none)',
        'routes[2].groups: has no effect on a public route (auth: none)',
        'routes[3].basicClient: must name a configured client for auth: bearer-or-basic',
        'routes[4].basicClient: only used with auth: bearer-or-basic',
        'routes[5].upstream: must be an http:// or https:// URL',
        'routes[6].upstream: must not carry credentials',
        'routes[6].upstream: must not have a query or fragment',
        `routes[7].upstreamCaFile: cannot read missing.pem (resolved to ${join(dir, 'missing.pem')}): ENOENT`,
        "routes[8].upstreamCaFile: has no effect: the route's upstream is not https://",
        'routes[9].upstreamTimeoutMs: must be a whole number of at least 0: value was -5',
      ]),
    );
  });

  it('refuses a rule that can never match', () => {
    expect(
      problems(`  - { path: /** }
  - { path: /api }
`),
    ).toContain('routes[1]: never matches: routes[0] (/**) comes first and matches every request it would (first match wins)');
    expect(
      problems(`  - { path: /api, methods: [GET, POST] }
  - { path: /api, methods: [GET] }
  - { path: /api, methods: [PUT] }
`),
    ).toEqual(['routes[1]: never matches: routes[0] (/api) comes first and matches every request it would (first match wins)']);
  });

  it('checks the decision path, the TLS pair and the limits', () => {
    const found = problems(
      '  []',
      `decision: { enabled: true, path: /as }
server: { tls: { certFile: nope.pem, keyFile: nope.key }, limits: { headersTimeoutMs: 5000, requestTimeoutMs: 1000 } }`,
    );
    expect(found).toEqual(
      expect.arrayContaining([
        'decision.path: collides with oauth.paths.token (/as/token.oauth2); the decision endpoint owns its path and everything below it',
        `server.tls.certFile: cannot read nope.pem (resolved to ${join(dir, 'nope.pem')}): ENOENT`,
        `server.tls.keyFile: cannot read nope.key (resolved to ${join(dir, 'nope.key')}): ENOENT`,
        'server.limits.headersTimeoutMs: must not be larger than server.limits.requestTimeoutMs',
        'decision.ingress: required when decision.enabled (nginx, traefik or envoy: the only source the original request is read from)',
      ]),
    );
    expect(problems('  []', 'decision: { enabled: false, path: /as }')).toEqual([]);
    expect(problems('  []', 'decision: { enabled: true, ingress: traefik }')).toEqual([]);
    expect(problems('  []', 'decision: { enabled: true, ingress: haproxy }')).toEqual([
      expect.stringMatching(/^decision\.ingress: must be one of the possible values/),
    ]);
  });
});
