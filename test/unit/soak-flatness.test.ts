import { describe, expect, it } from 'vitest';
import { flatness } from '../../bench/lib/soak-stats.js';

describe('the soak flatness rule (docs/performance.md, "Memory")', () => {
  it('compares the last third with the middle third, ignoring the warm-up third', () => {
    // A big first interval (warm-up) does not count; 100 → 104 is +4 %: flat.
    const f = flatness([180, 170, 100, 100, 104, 104]);
    expect(f.middleMean).toBe(100);
    expect(f.lastMean).toBe(104);
    expect(f.growth).toBeCloseTo(0.04, 10);
    expect(f.flat).toBe(true);
    expect(f).toMatchObject({ first: 180, last: 104, max: 180 });
  });

  it('calls 5 % growth or more not flat, in either direction', () => {
    expect(flatness([100, 100, 100, 100, 105, 105]).flat).toBe(false);
    expect(flatness([100, 100, 100, 100, 94, 94]).flat).toBe(false);
    expect(flatness([100, 100, 100, 100, 95.1, 95.1]).flat).toBe(true);
  });

  it('uses the last samples when the count is not a multiple of three', () => {
    // 7 samples: thirds of 2; middle = samples 2–3, last = samples 5–6.
    const f = flatness([1, 1, 100, 100, 1000, 110, 110]);
    expect(f.middleMean).toBe(100);
    expect(f.lastMean).toBe(110);
    expect(f.flat).toBe(false);
  });

  it('drops missing readings and judges nothing below three samples', () => {
    const f = flatness([undefined, 120, undefined, 121]);
    expect(f).toMatchObject({ first: 120, last: 121, max: 121, growth: 0, flat: false });
    expect(flatness([]).max).toBeUndefined();
  });
});
