import { describe, expect, it } from 'vitest';
import { routeWarnings } from '../../src/config/resource-checks.js';
import type { RouteConfig } from '../../src/config/types.js';

const rule = (path: string, methods: string[] = []): RouteConfig => ({ path, methods }) as unknown as RouteConfig;

describe('routeWarnings', () => {
  it('names a rule whose other methods fall through to the rules after it', () => {
    expect(routeWarnings({ routes: [rule('/admin/**', ['GET', 'POST']), rule('/**')] })).toEqual([
      'routes[0].methods: only GET, POST on /admin/** are judged by this rule; every other method falls through to the rules after it (add a rule for /admin/** without methods to cover them)',
    ]);
  });

  it('is silent when a later rule for the same path covers every other method', () => {
    expect(routeWarnings({ routes: [rule('/orders/**', ['GET']), rule('/orders/**'), rule('/**')] })).toEqual([]);
    expect(routeWarnings({ routes: [rule('/admin/**'), rule('/**')] })).toEqual([]);
  });
});
