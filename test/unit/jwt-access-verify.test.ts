/**
 * JwtAccessTokens.verify on the resource path remembers what it verified: the same token's
 * signature is checked once, its `exp` every time (src/tokens/jwt-access.ts).
 */
import { describe, expect, it } from 'vitest';
import { JwtAccessTokens } from '../../src/tokens/jwt-access.js';
import { loadKeySet } from '../../src/tokens/key-set.js';
import { newFamilyId } from '../../src/tokens/token-value.js';
import type { GrantRecord } from '../../src/tokens/types.js';
import { TestClock } from '../support/test-clock.js';

async function setup() {
  const clock = new TestClock();
  const keys = await loadKeySet([], ['ES256']);
  let lookups = 0;
  const getKey = ((...args: Parameters<typeof keys.getKey>) => {
    lookups++;
    return keys.getKey(...args);
  }) as typeof keys.getKey;
  const counted = { ...keys, getKey };
  const tokens = new JwtAccessTokens({ keys: counted, issuer: 'https://gw.example', audience: 'https://gw.example', claims: {}, clock });
  const now = Math.floor(clock.now() / 1000);
  const familyId = newFamilyId();
  const record: GrantRecord = {
    sub: 'joe',
    clientId: 'app',
    scope: ['read'],
    groups: [],
    attributes: {},
    validator: '',
    familyId,
    iat: now,
    exp: now + 60,
  };
  const jwt = await tokens.sign(record, { familyId, hash: 'A'.repeat(43) }, { audience: [], signingAlgorithm: 'ES256' });
  return { clock, tokens, jwt, lookups: () => lookups };
}

describe('JwtAccessTokens.verify (resource path)', () => {
  it('verifies the signature of a token once and answers the same identity after', async () => {
    const { tokens, jwt, lookups } = await setup();
    const first = await tokens.verify(jwt, true);
    expect(first?.record.sub).toBe('joe');
    expect(lookups()).toBe(1);
    expect(await tokens.verify(jwt, true)).toEqual(first);
    expect(lookups()).toBe(1);
  });

  it('refuses a remembered token once it has expired', async () => {
    const { clock, tokens, jwt } = await setup();
    expect(await tokens.verify(jwt, true)).not.toBeNull();
    clock.advance(61_000);
    expect(await tokens.verify(jwt, true)).toBeNull();
  });

  it('never remembers a token that failed, nor one changed by a byte', async () => {
    const { tokens, jwt, lookups } = await setup();
    const tampered = `${jwt.slice(0, -2)}${jwt.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await tokens.verify(tampered, true)).toBeNull();
    expect(await tokens.verify(tampered, true)).toBeNull();
    expect(lookups()).toBe(2);
    expect(await tokens.verify(jwt, true)).not.toBeNull();
  });
});
