/**
 * The configuration types are derived from the schema (src/config/types.ts): a key in the
 * schema is a key of the type, with the type its format names. Checked by `npm run typecheck`
 * (expectTypeOf) and at run time against the loaded defaults.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ClientConfig, GatewayConfig, LdapValidatorConfig, RouteConfig } from '../../src/config/types.js';
import type { schema } from '../../src/config/schema.js';
import type { clientSpec, routeSpec } from '../../src/config/items.js';
import { loadConfig } from '../../src/config/load.js';

describe('config types derived from the schema', () => {
  it('have every schema key, typed by its format', () => {
    expectTypeOf<keyof GatewayConfig['lockout']>().toEqualTypeOf<keyof (typeof schema)['lockout']>();
    expectTypeOf<keyof GatewayConfig['server']['limits']>().toEqualTypeOf<keyof (typeof schema)['server']['limits']>();
    expectTypeOf<GatewayConfig['server']['port']>().toEqualTypeOf<number>();
    expectTypeOf<GatewayConfig['log']['level']>().toEqualTypeOf<'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>();
    expectTypeOf<GatewayConfig['store']['type']>().toEqualTypeOf<'redis' | 'memory'>();
    expectTypeOf<GatewayConfig['store']['redis']['sentinels']>().toEqualTypeOf<readonly string[]>();
    expectTypeOf<keyof RouteConfig>().toEqualTypeOf<keyof typeof routeSpec>();
    expectTypeOf<RouteConfig['auth']>().toEqualTypeOf<'bearer' | 'none' | 'bearer-or-basic'>();
    // The loader turns secretFile into secret and resolves the validator chain.
    expectTypeOf<keyof ClientConfig>().toEqualTypeOf<Exclude<keyof typeof clientSpec, 'secretFile'> | 'secret'>();
    expectTypeOf<LdapValidatorConfig['groups']['nameAttribute']>().toEqualTypeOf<string>();
  });

  it('match what the loader builds', () => {
    const config = loadConfig({ mode: 'dev', env: {} });
    expect(Object.keys(config.lockout).sort()).toEqual([
      'directoryLockSeconds',
      'failureResetSeconds',
      'ipMaxFailuresPerMinute',
      'lockSeconds',
      'maxFailures',
      'maxLockSeconds',
      'reservationSeconds',
    ]);
    expect(config.store.type).toBe('memory');
  });
});
