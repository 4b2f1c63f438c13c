import type { Metric } from 'prom-client';

/**
 * One gap in this many is timed. Measured on the relay path (docs/metrics.md):
 * timing every gap doubled the cost of relaying a chunk, the clock read being
 * most of it; the sample keeps quantiles and the mean while `_count` counts
 * timed gaps only.
 */
export const CHUNK_GAP_SAMPLE = 4;

/** Upper bounds, in seconds, of the inter-chunk gap histogram. */
const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/**
 * One request's inter-chunk gaps, counted into fixed buckets. Recording a gap
 * is a few comparisons and two additions with no allocation, which is what the
 * relay can afford once per chunk; prom-client's `observe` builds a label key
 * and an object on every call.
 */
export class ChunkGaps {
  readonly counts = new Float64Array(BOUNDS.length + 1);
  sum = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < BOUNDS.length && seconds > BOUNDS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
  }

  add(other: ChunkGaps): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.sum += other.sum;
  }
}

interface Sample {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/**
 * A Prometheus histogram per model, fed once per request with that request's
 * {@link ChunkGaps}. It speaks prom-client's metric interface so it sits in
 * the same registry as the library's own metrics.
 */
export class ChunkGapHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly byModel = new Map<string, ChunkGaps>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  merge(model: string, gaps: ChunkGaps): void {
    let total = this.byModel.get(model);
    if (!total) this.byModel.set(model, (total = new ChunkGaps()));
    total.add(gaps);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [model, gaps] of this.byModel) {
      let cumulative = 0;
      for (let i = 0; i < gaps.counts.length; i++) {
        cumulative += gaps.counts[i]!;
        values.push({ metricName: bucket, labels: { model, le: i < BOUNDS.length ? BOUNDS[i]! : '+Inf' }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { model }, value: gaps.sum });
      values.push({ metricName: `${this.name}_count`, labels: { model }, value: cumulative });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.byModel.clear();
  }

  /** prom-client's registry is typed for its own classes only; it uses no more than the members above. */
  asMetric(): Metric {
    return this as unknown as Metric;
  }
}
