/** Percentile of an unsorted sample (nearest rank); NaN for an empty one. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const mean = values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
  return { n: values.length, p50: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99), mean };
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** The sample's value at every `100 / steps` percent from 0 to 100 (nearest rank), for CDF plots. */
export function quantiles(values: readonly number[], steps = 100): number[] {
  if (values.length === 0) return [];
  const sorted = [...values].sort((a, b) => a - b);
  return Array.from({ length: steps + 1 }, (_, i) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((i / steps) * sorted.length) - 1))]!);
}

export interface Timed {
  readonly ok: boolean;
  /** ms to the first token. */
  readonly ttft: number;
  /** ms to the end of the answer. */
  readonly total: number;
}

export interface LatencyFigures {
  readonly requests: number;
  /** Requests that did not end with a complete answer; they count in no percentile. */
  readonly failed: number;
  readonly ttftMs: { p50: number; p99: number };
  readonly e2eMs: { p50: number; p99: number };
}

export function latencyFigures(timings: readonly Timed[]): LatencyFigures {
  const ok = timings.filter((t) => t.ok);
  const ttft = summarize(ok.map((t) => t.ttft));
  const e2e = summarize(ok.map((t) => t.total));
  return {
    requests: timings.length,
    failed: timings.length - ok.length,
    ttftMs: { p50: round(ttft.p50), p99: round(ttft.p99) },
    e2eMs: { p50: round(e2e.p50), p99: round(e2e.p99) },
  };
}
