import type { SimStats } from '@infergate/sim';

/* The simulator's control endpoints, for engines running as processes. */

export async function simStats(engineUrl: string): Promise<SimStats> {
  return (await (await fetch(`${engineUrl}/__sim/stats`)).json()) as SimStats;
}

export async function simConfigure(engineUrl: string, patch: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${engineUrl}/__sim/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
  if (!res.ok) throw new Error(`sim config ${JSON.stringify(patch)}: ${res.status} ${await res.text()}`);
}

export async function simResetStats(engineUrl: string): Promise<void> {
  await fetch(`${engineUrl}/__sim/reset-stats`, { method: 'POST' });
}

/** What the engines themselves counted since their stats were reset: requests that waited inside them, and answers per engine. */
export async function engineFigures(engineUrls: readonly string[]): Promise<{ deferrals: number; served: number[] }> {
  const stats = await Promise.all(engineUrls.map(simStats));
  return { deferrals: stats.reduce((n, s) => n + s.deferrals, 0), served: stats.map((s) => s.completed) };
}
