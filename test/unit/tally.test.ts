import { describe, expect, it } from 'vitest';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { counterView, histogramView, Tally, type Labels } from '../../src/observability/tally.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];
/** Observations with labels and values on, between and beyond the bounds. */
const OBSERVED: [Labels, number][] = [
  [{ kind: 'resource', status: '200', route: '/a/**' }, 0.0005],
  [{ kind: 'resource', status: '200', route: '/a/**' }, 0.001],
  [{ kind: 'token', status: '400' }, 0.02],
  [{ kind: 'resource', status: '403', route: '/a/**' }, 5],
  [{ kind: 'resource', status: '200', route: '/b' }, 0.1],
  [{ kind: 'resource', status: '200', route: '/a/**' }, 0.3],
  [{ kind: 'token', status: '400' }, 0],
];

function fromTally(): Registry {
  const registry = new Registry();
  const tally = new Tally(BOUNDS);
  for (const [labels, value] of OBSERVED) tally.add(JSON.stringify(labels), () => labels, value);
  const byKind = ({ labels }: { labels: Labels }) => ({ kind: labels['kind'] as string, status: labels['status'] as string });
  const byRoute = ({ labels }: { labels: Labels }) => (labels['route'] ? { route: labels['route'] } : undefined);
  histogramView(tally, 'h_kind', 'by kind', byKind, [registry]);
  histogramView(tally, 'h_route', 'by route', byRoute, [registry]);
  counterView(tally, 'c_kind_total', 'count by kind', byKind, [registry]);
  return registry;
}

function fromPromClient(): Registry {
  const registry = new Registry();
  const registers = [registry];
  const hKind = new Histogram({ name: 'h_kind', help: 'by kind', labelNames: ['kind', 'status'], buckets: BOUNDS, registers });
  const hRoute = new Histogram({ name: 'h_route', help: 'by route', labelNames: ['route'], buckets: BOUNDS, registers });
  const cKind = new Counter({ name: 'c_kind_total', help: 'count by kind', labelNames: ['kind', 'status'], registers });
  for (const [{ kind, status, route }, value] of OBSERVED) {
    hKind.observe({ kind: kind as string, status: status as string }, value);
    if (route) hRoute.observe({ route }, value);
    cKind.inc({ kind: kind as string, status: status as string });
  }
  return registry;
}

describe('tallied metrics (src/observability/tally.ts)', () => {
  it("scrape the same text as prom-client's own Histogram and Counter", async () => {
    expect(await fromTally().metrics()).toBe(await fromPromClient().metrics());
  });

  it('give the same JSON, so workers aggregate them as before (AggregatorRegistry)', async () => {
    const ours = await fromTally().getMetricsAsJSON();
    const theirs = await fromPromClient().getMetricsAsJSON();
    // prom-client also writes `exemplar: null` on each bucket (exemplars are off): nothing reads it.
    const plain = (json: unknown): unknown => JSON.parse(JSON.stringify(json, (key, value) => (key === 'exemplar' ? undefined : value)));
    expect(plain(ours)).toEqual(plain(theirs));
    const summed = AggregatorRegistry.aggregate([ours, ours] as Parameters<typeof AggregatorRegistry.aggregate>[0]);
    const twice = AggregatorRegistry.aggregate([theirs, theirs] as Parameters<typeof AggregatorRegistry.aggregate>[0]);
    expect(await summed.metrics()).toBe(await twice.metrics());
  });

  it('show a zeroed series at 0, then count it; reset empties them', async () => {
    const registry = new Registry();
    const tally = new Tally([]);
    tally.zero('ours', { source: 'ours' });
    counterView(tally, 'src_total', 'sources', ({ labels }) => labels, [registry]);
    expect(await registry.metrics()).toContain('src_total{source="ours"} 0');
    tally.add('ours', () => ({ source: 'ours' }), 0);
    tally.add('ours', () => ({ source: 'ours' }), 0);
    expect(await registry.metrics()).toContain('src_total{source="ours"} 2');
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('src_total{');
  });
});
