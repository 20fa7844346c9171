/**
 * The soak's memory verdict, a pure function of the RSS samples (docs/performance.md, "Memory"):
 * RSS is flat when the mean of the last third of the samples is within 5 % of the middle
 * third's. The first third is left out: it holds the warm-up (JIT, pools, caches filling).
 */

/** Largest growth of the last third over the middle third still called flat (5 %). */
export const FLAT_TOLERANCE = 0.05;

export interface Flatness {
  readonly first: number | undefined;
  readonly last: number | undefined;
  readonly max: number | undefined;
  readonly middleMean: number;
  readonly lastMean: number;
  /** (last third's mean − middle third's) / middle third's; 0 with fewer than 3 samples. */
  readonly growth: number;
  /** |growth| < {@link FLAT_TOLERANCE}; false with fewer than 3 samples (nothing to judge). */
  readonly flat: boolean;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** The verdict over samples in time order (undefined readings, a process gone, are dropped). */
export function flatness(samples: readonly (number | undefined)[]): Flatness {
  const xs = samples.filter((v): v is number => v !== undefined && Number.isFinite(v));
  const third = Math.floor(xs.length / 3);
  const middleMean = third > 0 ? mean(xs.slice(third, 2 * third)) : 0;
  const lastMean = third > 0 ? mean(xs.slice(xs.length - third)) : 0;
  const growth = middleMean > 0 ? (lastMean - middleMean) / middleMean : 0;
  return {
    first: xs[0],
    last: xs.at(-1),
    max: xs.length ? Math.max(...xs) : undefined,
    middleMean,
    lastMean,
    growth,
    flat: third > 0 && Math.abs(growth) < FLAT_TOLERANCE,
  };
}
