import { describe, expect, it } from 'vitest';
import { newFamilyId, newToken, parseToken, randomBase64url, TOKEN_LENGTH } from '../../src/tokens/token-value.js';

describe('token values (src/tokens/token-value.ts)', () => {
  it('are fresh random values across many refills of the random pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i += 1) {
      const token = newToken(newFamilyId());
      expect(token).toHaveLength(TOKEN_LENGTH);
      expect(parseToken(token)).not.toBeNull();
      seen.add(token.slice(22));
    }
    expect(seen.size).toBe(20_000);
  });

  it('hand out odd sizes up to the pool size, never the same bytes twice', () => {
    const values = [randomBase64url(4095), randomBase64url(7), randomBase64url(4096), randomBase64url(1)];
    expect(values.map((v) => Buffer.from(v, 'base64url').length)).toEqual([4095, 7, 4096, 1]);
    expect(new Set(values).size).toBe(4);
  });
});
