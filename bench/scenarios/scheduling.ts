import type { ServiceProcess } from '@infergate/stack';
import { countAffinity, seriesTable, type Series } from '../lib/affinitySeries.js';
import { startFleet, startSims, stopServices, type EngineSpec, type Fleet } from '../lib/fleet.js';
import { LoadClient, type StreamTiming } from '../lib/loadgen.js';
import { table } from '../lib/markdown.js';
import { NGINX_MISSING, nginxAvailable, startNginx, type Nginx } from '../lib/nginx.js';
import { seededRandom } from '../lib/random.js';
import { engineFigures, simResetStats } from '../lib/sim.js';
import { latencyFigures, round, type LatencyFigures } from '../lib/stats.js';

/*
 * Scheduling quality: a heterogeneous pool at about 90 % of what it can
 * serve, Poisson arrivals, mixed output lengths; infergate's pull gate
 * against nginx `least_conn` (weight = slots, the most an operator can tell
 * nginx) over identical simulated engines. Each arm has engines of its own:
 * load sent straight to a dispatcher's engine would count as outside load
 * for its gate. Engine-side deferrals are requests that had to wait inside
 * an engine, where no other engine can take them any more. infergate runs
 * with cache affinity on and off: every request carries the
 * same system prompt, longer than an affinity block, so with affinity on
 * each one is matched to the engine that last served it — the skew that
 * affinity's load guards must keep from costing the tail. Arrivals are
 * seeded: every arm gets the same ones.
 */

// Engine speeds of real hardware's order (tens of ms per token), so that
// the CPU the proxies themselves use on this machine barely slows the
// simulated engines, which it shares.
const POOL: readonly EngineSpec[] = [
  { slots: 4, ttftMs: 100, itlMs: 10, tokens: 96 },
  { slots: 2, ttftMs: 150, itlMs: 20, tokens: 96 },
  { slots: 1, ttftMs: 250, itlMs: 40, tokens: 96 },
];
/** Equally likely output lengths (max_tokens) of a request. */
const OUTPUT_TOKENS = [8, 32, 96];
const LOAD = 0.9;
const SYSTEM_PROMPT = 'Answer as the benchmark assistant would, briefly and in order. '.repeat(16);
const ARRIVAL_SEED = 90;

export const SCHEDULING_ARMS = {
  affinityDefault: 'infergate, affinity on',
  affinityOff: 'infergate, affinity off',
  nginx: 'nginx least_conn',
} as const;

export interface SchedulingRow extends LatencyFigures {
  readonly arm: string;
  /** Sum of the engines' own deferral counters. */
  readonly deferrals: number;
  /** Completed requests per engine, in pool order. */
  readonly served: number[];
  /** infergate's affinity series over the measured run. */
  readonly affinitySeries?: Series;
}

export interface SchedulingResult {
  readonly pool: readonly EngineSpec[];
  readonly outputTokens: readonly number[];
  readonly ratePerSecond: number;
  readonly load: number;
  readonly durationMs: number;
  readonly rows: SchedulingRow[];
  readonly notes: string[];
}

/** Requests per second the pool completes with every slot always busy. */
function poolCapacity(): number {
  const meanTokens = OUTPUT_TOKENS.reduce((a, b) => a + b, 0) / OUTPUT_TOKENS.length;
  return POOL.reduce((sum, e) => sum + e.slots / ((e.ttftMs + e.itlMs * (meanTokens - 1)) / 1000), 0);
}

/** `fleet`: the arm's infergate, whose affinity series are counted. */
async function runArm(arm: string, entryUrl: string, engineUrls: readonly string[], rate: number, durationMs: number, fleet?: Fleet): Promise<SchedulingRow> {
  const clients = OUTPUT_TOKENS.map((tokens) => new LoadClient(entryUrl, { tokens, system: SYSTEM_PROMPT }));
  try {
    // Warm the path (connection pools, JIT, Lua script cache), then count from zero.
    await Promise.all(clients.map((c) => c.closedLoop(2, 1_500)));
    await Promise.all(engineUrls.map(simResetStats));
    // One Poisson stream per output length at rate/n: together, Poisson arrivals at `rate` with lengths mixed evenly.
    const { result: timings, series } = await countAffinity(fleet, async (): Promise<StreamTiming[]> =>
      (await Promise.all(clients.map((c, i) => c.openLoop(rate / clients.length, durationMs, seededRandom(ARRIVAL_SEED + i))))).flat(),
    );
    return { arm, ...latencyFigures(timings), ...(await engineFigures(engineUrls)), ...(series ? { affinitySeries: series } : {}) };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

export async function schedulingScenario(options: { durationMs: number }): Promise<SchedulingResult> {
  const rate = round(LOAD * poolCapacity(), 1);
  const rows: SchedulingRow[] = [];
  const notes: string[] = [];

  for (const [arm, env] of [
    [SCHEDULING_ARMS.affinityDefault, { AFFINITY_ENABLED: 'true' }],
    [SCHEDULING_ARMS.affinityOff, { AFFINITY_ENABLED: 'false' }],
  ] as const) {
    const fleet = await startFleet({ engines: POOL, env });
    try {
      rows.push(await runArm(arm, fleet.ingressUrls[0]!, fleet.engineUrls, rate, options.durationMs, fleet));
    } finally {
      await fleet.stop();
    }
  }

  if (nginxAvailable()) {
    const sims: ServiceProcess[] = [];
    let nginx: Nginx | undefined;
    try {
      const engineUrls = await startSims(POOL, sims);
      nginx = await startNginx(
        engineUrls.map((url, i) => ({ url, weight: POOL[i]!.slots })),
        { leastConn: true },
      );
      rows.push(await runArm(SCHEDULING_ARMS.nginx, nginx.url, engineUrls, rate, options.durationMs));
    } finally {
      await nginx?.stop();
      await stopServices(sims);
    }
  } else {
    notes.push(NGINX_MISSING);
  }
  return { pool: POOL, outputTokens: OUTPUT_TOKENS, ratePerSecond: rate, load: LOAD, durationMs: options.durationMs, rows, notes };
}

export function schedulingSection(r: SchedulingResult): string[] {
  const engines = r.pool.map((e) => `${e.slots} slot${e.slots > 1 ? 's' : ''} (${e.ttftMs} ms to the first token, then ${e.itlMs} ms per token)`);
  return [
    `## Scheduling: a heterogeneous pool at ${r.load * 100} % load (infergate vs. nginx \`least_conn\`, same run)`,
    '',
    `Simulated llama.cpp engines with ${engines.join(', ')}. Outputs of ${r.outputTokens.join(', ')} tokens, equally likely; Poisson arrivals at ${r.ratePerSecond} req/s for ${r.durationMs / 1000} s per arm (the same seeded arrivals for every arm), each arm on engines of its own. Every request carries the same ${SYSTEM_PROMPT.length}-character system prompt, so with cache affinity on each is matched to the engine that last served it. nginx: \`least_conn\` with weight = slots, unbuffered. Times in ms: e2e = sending to the last byte, TTFT = to the first body byte. Engine-side deferrals: requests that had to wait inside an engine (the engines' own counters).`,
    '',
    ...table(
      ['arm', 'requests', 'failed', 'e2e p50', '**e2e p99**', 'TTFT p50', '**TTFT p99**', '**engine-side deferrals**', `served per engine (${r.pool.map((e) => e.slots).join(' / ')} slots)`],
      r.rows.map((row) => [
        row.arm,
        row.requests,
        row.failed,
        row.e2eMs.p50,
        `**${row.e2eMs.p99}**`,
        row.ttftMs.p50,
        `**${row.ttftMs.p99}**`,
        `**${row.deferrals}**`,
        row.served.join(' / '),
      ]),
    ),
    '',
    ...seriesTable(r.rows),
    ...r.notes.flatMap((n) => ['', n]),
    '',
  ];
}
