import type { Fleet } from './fleet.js';
import { table } from './markdown.js';
import { scrapeSeries } from './prometheus.js';
import { round } from './stats.js';

/*
 * infergate's own account of cache affinity over a measured run: the
 * ingresses' decisions (lane hit, or miss and why), steals, lane waits and
 * lookups; the dispatchers' lane pulls and moves; the engines' cache
 * figures as the dispatchers relayed them. Summed over the fleet.
 */

const SERIES = ['infergate_affinity_', 'infergate_dispatcher_affinity_', 'infergate_dispatcher_lane_', 'infergate_engine_prompt_tokens'];

export type Series = Record<string, number>;

function metricsUrls(fleet: Fleet): string[] {
  return [...fleet.ingressUrls, ...fleet.dispatcherStatusUrls].map((u) => `${u}/metrics`);
}

/** Runs `run` and returns its result with how much each affinity series of `fleet` grew meanwhile (none for an arm without one). */
export async function countAffinity<T>(fleet: Fleet | undefined, run: () => Promise<T>): Promise<{ result: T; series: Series | undefined }> {
  if (!fleet) return { result: await run(), series: undefined };
  const urls = metricsUrls(fleet);
  const before = await scrapeSeries(urls, SERIES);
  const result = await run();
  const after = await scrapeSeries(urls, SERIES);
  return { result, series: Object.fromEntries(Object.entries(after).map(([k, v]) => [k, round(v - (before[k] ?? 0), 3)])) };
}

/** The affinity series of the arms that have them, side by side, one row per series. */
export function seriesTable(rows: ReadonlyArray<{ readonly arm: string; readonly affinitySeries?: Series }>): string[] {
  const arms = rows.filter((row) => row.affinitySeries && Object.keys(row.affinitySeries).length > 0);
  if (arms.length === 0) return [];
  const names = [...new Set(arms.flatMap((row) => Object.keys(row.affinitySeries!)))].sort();
  return [
    `infergate's own affinity series over each measured run, summed over the fleet's ingresses and dispatchers:`,
    '',
    ...table(['series', ...arms.map((row) => row.arm)], names.map((n) => [`\`${n}\``, ...arms.map((row) => row.affinitySeries![n] ?? '–')])),
    '',
  ];
}
