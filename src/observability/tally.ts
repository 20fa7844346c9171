/**
 * Per-request metrics without prom-client on the request path: a request adds one
 * observation to a {@link Tally} (one Map probe, one bucket count), and prom-client reads the
 * metrics built from it — histograms and counters, each a view that groups the tally's
 * series by its own labels — only when it is scraped (or aggregated across workers,
 * src/cluster/). The text and JSON those views give prom-client's Registry are what
 * prom-client's own Histogram and Counter give for the same observations
 * (test/unit/tally.test.ts). docs/performance.md, "Metrics", says what it saves.
 */
import type { Registry } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;

/** One series of a tally: its labels, the count per bucket (not cumulative), the sum and the count. */
export interface Series {
  readonly labels: Labels;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** Observations by series, in seconds, counted in the buckets of `bounds` (upper bounds, ascending). */
export class Tally {
  readonly #series = new Map<string, Series>();

  constructor(readonly bounds: readonly number[]) {}

  /** One observation of the series `key`; `labels` is called when the series is new. */
  add(key: string, labels: () => Labels, value: number): void {
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: labels(), buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i += 1;
    // Above the last bound: only in +Inf (the count), as prom-client counts it.
    if (i < bounds.length) series.buckets[i] = (series.buckets[i] as number) + 1;
    series.sum += value;
    series.count += 1;
  }

  /** Creates the series `key` with no observation yet (a counter shown at 0 from the start). */
  zero(key: string, labels: Labels): void {
    if (!this.#series.has(key)) this.#series.set(key, { labels, buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 });
  }

  series(): IterableIterator<Series> {
    return this.#series.values();
  }

  clear(): void {
    this.#series.clear();
  }
}

/** What prom-client's Registry reads of a metric (prom-client's MetricObjectWithValues). */
interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

interface MetricView {
  name: string;
  readonly help: string;
  readonly type: 'histogram' | 'counter';
  readonly aggregator: 'sum';
  get(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: 'sum' };
  reset(): void;
}

/** The label set a view files a series under, or undefined when the view does not count it. */
export type Grouping = (series: Series) => Labels | undefined;

/** The tally's series summed by `group`, in the order each group first appears. */
function grouped(tally: Tally, group: Grouping): Series[] {
  const groups = new Map<string, Series>();
  for (const series of tally.series()) {
    const labels = group(series);
    if (!labels) continue;
    const key = JSON.stringify(labels);
    let sum = groups.get(key);
    if (!sum) {
      sum = { labels, buckets: new Float64Array(tally.bounds.length), sum: 0, count: 0 };
      groups.set(key, sum);
    }
    for (let i = 0; i < series.buckets.length; i += 1) sum.buckets[i] = (sum.buckets[i] as number) + (series.buckets[i] as number);
    sum.sum += series.sum;
    sum.count += series.count;
  }
  return [...groups.values()];
}

function register(view: MetricView, registers: readonly Registry[]): void {
  // prom-client's Registry reads name, help, type, aggregator, get() and reset() of a metric.
  for (const registry of registers) registry.registerMetric(view as unknown as Parameters<Registry['registerMetric']>[0]);
}

/** A histogram (seconds) of the tally's series summed by `group`. */
export function histogramView(tally: Tally, name: string, help: string, group: Grouping, registers: readonly Registry[]): void {
  const view: MetricView = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const values: MetricValue[] = [];
      for (const { labels, buckets, sum, count } of grouped(tally, group)) {
        let cumulative = 0;
        tally.bounds.forEach((le, i) => {
          cumulative += buckets[i] as number;
          values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${name}_bucket` });
        });
        values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: `${name}_bucket` });
        values.push({ labels: { ...labels }, value: sum, metricName: `${name}_sum` });
        values.push({ labels: { ...labels }, value: count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    reset: () => tally.clear(),
  };
  register(view, registers);
}

/** A counter of the observations in the tally's series, summed by `group`. */
export function counterView(tally: Tally, name: string, help: string, group: Grouping, registers: readonly Registry[]): void {
  const view: MetricView = {
    name,
    help,
    type: 'counter',
    aggregator: 'sum',
    get() {
      const values = grouped(tally, group).map(({ labels, count }) => ({ labels: { ...labels }, value: count }));
      // view.name: the Registry renames a counter for OpenMetrics (…_total → …) and reads it back from here.
      return { name: view.name, help, type: 'counter', values, aggregator: 'sum' };
    },
    reset: () => tally.clear(),
  };
  register(view, registers);
}
