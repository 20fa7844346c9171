/**
 * The in-memory revocation list of JWT access tokens (src/tokens/jwt-revocations.ts), with a
 * fake clock and a hand-driven revocation watch: what it answers from memory, and when it
 * sends the caller to the store.
 */
import { describe, expect, it } from 'vitest';
import { JwtRevocationList } from '../../src/tokens/jwt-revocations.js';
import type { RevocationEvent, TokenStore } from '../../src/tokens/types.js';

const JTI = 'h'.repeat(43);
const SID = 'f'.repeat(22);

function setup(retainSeconds = 100) {
  let now = 1_000_000_000_000;
  let live = true;
  let listener: (event: RevocationEvent) => void = () => {};
  const store = {
    watchRevocations(l: (event: RevocationEvent) => void) {
      listener = l;
      return {
        get live() {
          return live;
        },
        async close() {},
      };
    },
  } as unknown as TokenStore;
  const list = new JwtRevocationList(store, { retainSeconds, skewMs: 5000, now: () => now });
  return {
    list,
    hear: (event: RevocationEvent) => listener(event),
    advance: (ms: number) => (now += ms),
    setLive: (value: boolean) => (live = value),
    /** iat (seconds) of a token issued `ms` from now. */
    iat: (ms = 0) => Math.floor((now + ms) / 1000),
  };
}

describe('JwtRevocationList', () => {
  it('sends tokens issued before the feed was first seen live (plus the skew) to the store, later ones not', () => {
    const t = setup();
    expect(t.list.check(JTI, SID, t.iat(), t.iat() + 100)).toBe('ask-store');
    t.advance(6000);
    expect(t.list.check(JTI, SID, t.iat(), t.iat() + 100)).toBe('valid');
    expect(t.list.check(JTI, SID, t.iat(-6000), t.iat(-6000) + 100)).toBe('ask-store');
  });

  it('refuses a revoked token and every token of a revoked family, until the retention ends', () => {
    const t = setup(100);
    t.list.check(JTI, SID, t.iat(), t.iat() + 100);
    t.advance(10_000);
    const iat = t.iat();
    t.hear({ kind: 'token', hash: JTI });
    expect(t.list.check(JTI, SID, iat, iat + 100)).toBe('revoked');
    expect(t.list.check('x'.repeat(43), SID, iat, iat + 100)).toBe('valid');
    t.hear({ kind: 'family', familyId: SID });
    expect(t.list.check('x'.repeat(43), SID, iat, iat + 100)).toBe('revoked');
    // A replica whose clock lags the issuer's by up to the skew still sees the token live
    // after its lifetime: the revocation is remembered that much longer.
    t.advance(104_000);
    expect(t.list.check(JTI, SID, iat, iat + 100)).toBe('revoked');
    t.advance(2_000);
    // Past the retention no token of that time is alive anyway; the entries are dropped.
    expect(t.list.check(JTI, SID, iat, iat + 100)).toBe('valid');
    t.hear({ kind: 'token', hash: 'y'.repeat(43) });
    expect(t.list.size).toBe(1);
  });

  it('asks the store while the feed is not live, and after a reset until the feed is seen live again', () => {
    const t = setup();
    t.list.check(JTI, SID, t.iat(), t.iat() + 100);
    t.advance(10_000);
    const iat = t.iat();
    expect(t.list.check(JTI, SID, iat, iat + 100)).toBe('valid');
    t.setLive(false);
    expect(t.list.check(JTI, SID, iat, iat + 100)).toBe('ask-store');
    t.setLive(true);
    // Live again: tokens issued before now may have been revoked while it was down.
    expect(t.list.check(JTI, SID, iat, iat + 100)).toBe('ask-store');
    t.advance(6000);
    expect(t.list.check(JTI, SID, t.iat(), t.iat() + 100)).toBe('valid');

    // A reset the caller never saw as "not live" counts the same.
    const before = t.iat();
    t.hear({ kind: 'reset' });
    expect(t.list.check(JTI, SID, before, before + 100)).toBe('ask-store');
  });

  it('sends a token that lives longer than the retention to the store (issued by a replica with a longer accessTokenTtl)', () => {
    const t = setup(100);
    t.list.check(JTI, SID, t.iat(), t.iat() + 100);
    t.advance(10_000);
    const iat = t.iat();
    expect(t.list.check(JTI, SID, iat, iat + 100)).toBe('valid');
    expect(t.list.check(JTI, SID, iat, iat + 101)).toBe('ask-store');
    // Revoked and heard: refused from memory while remembered, then the store is asked, never "valid".
    t.hear({ kind: 'family', familyId: SID });
    expect(t.list.check(JTI, SID, iat, iat + 7200)).toBe('revoked');
    t.advance(106_000);
    expect(t.list.check(JTI, SID, iat, iat + 7200)).toBe('ask-store');
  });

  it('still refuses what it heard while the feed is down', () => {
    const t = setup();
    t.hear({ kind: 'family', familyId: SID });
    t.setLive(false);
    expect(t.list.check(JTI, SID, t.iat(), t.iat() + 100)).toBe('revoked');
  });
});
