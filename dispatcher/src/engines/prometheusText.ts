/*
 * Just enough of the Prometheus text format to read an engine's gauges:
 * `name{labels} value` lines, comments skipped. Engines label differently
 * (llama.cpp none, vLLM model_name/engine), so callers sum what they need.
 */

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

// Label values are quoted and may hold `}` (vLLM puts served model names there).
const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (Number.isNaN(value)) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(LABEL)) labels[l[1]!] = l[2]!;
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value });
    out.set(m[1]!, list);
  }
  return out;
}

/** Sum of a metric's samples, or undefined when the engine does not export it. */
export function sumOf(metrics: Map<string, Sample[]>, ...names: string[]): number | undefined {
  for (const name of names) {
    const samples = metrics.get(name);
    if (samples) return samples.reduce((acc, s) => acc + s.value, 0);
  }
  return undefined;
}

/** Largest sample of a metric (a fill level across data-parallel ranks), or undefined when absent. */
export function maxOf(metrics: Map<string, Sample[]>, ...names: string[]): number | undefined {
  for (const name of names) {
    const samples = metrics.get(name);
    if (samples?.length) return Math.max(...samples.map((s) => s.value));
  }
  return undefined;
}
