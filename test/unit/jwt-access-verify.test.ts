/**
 * JwtAccessTokens.verify on the resource path remembers what it verified: the same token's
 * signature is checked once, its `exp` every time (src/tokens/jwt-access.ts); and peekJwt answers
 * a remembered, unrevoked one without a promise.
 */
import { describe, expect, it } from 'vitest';
import { JwtAccessTokens } from '../../src/tokens/jwt-access.js';
import { loadKeySet } from '../../src/tokens/key-set.js';
import { newFamilyId } from '../../src/tokens/token-value.js';
import type { GrantRecord, RevocationEvent, TokenStore } from '../../src/tokens/types.js';
import { JwtRevocationList } from '../../src/tokens/jwt-revocations.js';
import { peekJwt } from '../../src/tokens/access-lookup.js';
import { TestClock } from '../support/test-clock.js';

/** Joe's grant for the client app in family `familyId`, issued at `now` (seconds), for a minute. */
function grantRecord(familyId: string, now: number): GrantRecord {
  return { sub: 'joe', clientId: 'app', scope: ['read'], groups: [], attributes: {}, validator: '', familyId, iat: now, exp: now + 60 };
}

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
  const jwt = await tokens.sign(
    grantRecord(familyId, now),
    { familyId, hash: 'A'.repeat(43) },
    { audience: [], signingAlgorithm: 'ES256' },
  );
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

  it("accepts a token up to 5 s before its nbf (a replica whose clock lags the issuer's), and none after its exp", async () => {
    const { clock, tokens } = await setup();
    const now = Math.floor(clock.now() / 1000);
    const familyId = newFamilyId();
    const issuedAt = (iat: number) =>
      tokens.sign({ ...grantRecord(familyId, iat) }, { familyId, hash: 'B'.repeat(43) }, { audience: [], signingAlgorithm: 'ES256' });
    expect(await tokens.verify(await issuedAt(now + 4), false)).not.toBeNull();
    expect(await tokens.verify(await issuedAt(now + 7), false)).toBeNull();
    // Expired a second ago: refused, although within the tolerance jose would grant exp too.
    expect(await tokens.verify(await issuedAt(now - 61), false)).toBeNull();
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

describe('peekJwt: the synchronous answer of the resource path (src/tokens/access-lookup.ts)', () => {
  async function withList() {
    const clock = TestClock.frozen();
    let listener: (event: RevocationEvent) => void = () => {};
    const store = {
      watchRevocations(l: (event: RevocationEvent) => void) {
        listener = l;
        return { live: true, async close() {} };
      },
    } as unknown as TokenStore;
    const revocations = new JwtRevocationList(store, { retainSeconds: 600, skewMs: 5000, now: () => clock.now() });
    revocations.check('x'.repeat(43), 'f'.repeat(22), 0, 0); // the list sees the feed live at its first check
    clock.advance(10_000); // tokens issued from now on are after that (plus the skew)
    const keys = await loadKeySet([], ['ES256']);
    const tokens = new JwtAccessTokens({ keys, issuer: 'https://gw.example', audience: 'https://gw.example', claims: {}, clock });
    const sign = async (issuedAgoSeconds = 0) => {
      const now = Math.floor(clock.now() / 1000) - issuedAgoSeconds;
      const familyId = newFamilyId();
      const hash = `${familyId}${'A'.repeat(21)}`;
      const ref = { familyId, hash };
      return { jwt: await tokens.sign(grantRecord(familyId, now), ref, { audience: [], signingAlgorithm: 'ES256' }), ref };
    };
    return { clock, tokens, revocations, sign, hear: (event: RevocationEvent) => listener(event) };
  }

  it('answers a verified, unrevoked token from memory, and nothing it has not verified', async () => {
    const { tokens, revocations, sign } = await withList();
    const { jwt } = await sign();
    expect(peekJwt(tokens, revocations, jwt)).toBeUndefined();
    expect(await tokens.verify(jwt, true)).not.toBeNull();
    expect(peekJwt(tokens, revocations, jwt)?.sub).toBe('joe');
    expect(peekJwt(tokens, revocations, 'not.a.jwt!')).toBeUndefined();
  });

  it('leaves a revoked token, a revoked family, an expired token and one the store must judge to the lookup', async () => {
    const { clock, tokens, revocations, sign, hear } = await withList();
    const revoked = await sign();
    const family = await sign();
    const early = await sign(30); // issued before the feed went live: the store decides
    for (const { jwt } of [revoked, family, early]) expect(await tokens.verify(jwt, true)).not.toBeNull();
    hear({ kind: 'token', hash: revoked.ref.hash });
    hear({ kind: 'family', familyId: family.ref.familyId });
    expect(peekJwt(tokens, revocations, revoked.jwt)).toBeUndefined();
    expect(peekJwt(tokens, revocations, family.jwt)).toBeUndefined();
    expect(peekJwt(tokens, revocations, early.jwt)).toBeUndefined();
    const fresh = await sign();
    await tokens.verify(fresh.jwt, true);
    clock.advance(61_000);
    expect(peekJwt(tokens, revocations, fresh.jwt)).toBeUndefined();
  });
});
