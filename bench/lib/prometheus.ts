/*
 * Counters out of Prometheus text from several processes, summed per series.
 * Labels that only say which process or engine reported a sample are
 * dropped first, so the same series from every ingress or dispatcher adds
 * up to one figure for the fleet.
 */

const PER_PROCESS_LABELS = new Set(['dispatcher', 'dispatcher_id', 'engine', 'ingress', 'ingress_id', 'instance']);

function seriesKey(name: string, labels: string | undefined): string {
  const kept = [...(labels ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].filter(([, k]) => !PER_PROCESS_LABELS.has(k!) && k !== 'le');
  return kept.length === 0 ? name : `${name}{${kept.map(([, k, v]) => `${k}="${v}"`).join(',')}}`;
}

/** Sum per series of every sample whose name starts with one of `prefixes` (histogram buckets left out), over `urls`. */
export async function scrapeSeries(urls: readonly string[], prefixes: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const url of urls) {
    const text = await (await fetch(url)).text();
    for (const line of text.split('\n')) {
      const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || !prefixes.some((p) => m[1]!.startsWith(p)) || m[1]!.endsWith('_bucket')) continue;
      const key = seriesKey(m[1]!, m[2]);
      out[key] = (out[key] ?? 0) + Number(m[3]);
    }
  }
  return out;
}
