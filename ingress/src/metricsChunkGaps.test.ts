import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ChunkGapHistogram, ChunkGaps } from './metricsChunkGaps.js';

describe('chunk gap histogram', () => {
  it('counts each gap in the first bucket that holds it', () => {
    const gaps = new ChunkGaps();
    for (const s of [0.0005, 0.001, 0.003, 0.2, 7]) gaps.observe(s);
    // Buckets: ≤1ms, ≤2.5ms, ≤5ms, …, ≤250ms (index 7), …, ≤5s (index 11), +Inf (index 12).
    expect([...gaps.counts]).toEqual([2, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    expect(gaps.sum).toBeCloseTo(7.2045, 6);
  });

  it('merges requests per model and exposes cumulative Prometheus buckets', async () => {
    const histogram = new ChunkGapHistogram('t_gap_seconds', 'test');
    const registry = new Registry();
    registry.registerMetric(histogram.asMetric());
    const a = new ChunkGaps();
    a.observe(0.004);
    a.observe(0.02);
    const b = new ChunkGaps();
    b.observe(0.004);
    histogram.merge('m1', a);
    histogram.merge('m1', b);
    histogram.merge('m2', b);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE t_gap_seconds histogram');
    expect(text).toContain('t_gap_seconds_bucket{model="m1",le="0.0025"} 0');
    expect(text).toContain('t_gap_seconds_bucket{model="m1",le="0.005"} 2');
    expect(text).toContain('t_gap_seconds_bucket{model="m1",le="0.025"} 3');
    expect(text).toContain('t_gap_seconds_bucket{model="m1",le="+Inf"} 3');
    expect(text).toContain('t_gap_seconds_count{model="m1"} 3');
    expect(text).toMatch(/t_gap_seconds_sum\{model="m1"\} 0\.028/);
    expect(text).toContain('t_gap_seconds_count{model="m2"} 1');
  });
});
