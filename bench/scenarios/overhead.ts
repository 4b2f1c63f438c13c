import { eachArm, idleCores, startArms, type ArmFigures, type ArmName, type Load } from '../lib/arms.js';
import type { EngineSpec } from '../lib/fleet.js';
import { perArm, table } from '../lib/markdown.js';
import { round } from '../lib/stats.js';
import { figure, type Panel } from '../lib/svg.js';

/*
 * Added latency and the cost of relaying: the same streams sent straight to
 * a simulated engine, through nginx and through infergate, in one run, at
 * closed-loop concurrencies and open-loop Poisson rates. Each arm's CPU and
 * memory are read from /proc around its share of every load point, which
 * makes these runs the efficiency measurement too.
 */

/** The issue's anchor engine: 20 ms to the first token, 32 tokens at 5 ms, never queueing. */
export const OVERHEAD_ENGINE: EngineSpec = { slots: 256, ttftMs: 20, itlMs: 5, tokens: 32 };
/** About a thousand requests per arm before anything is measured. */
const WARM_UP = { streams: 64, ms: 3_000 };

export interface Added {
  readonly ttftP50: number;
  readonly ttftP99: number;
  readonly itlP50: number;
}

export interface OverheadRow {
  readonly load: string;
  /** `closed`: `level` concurrent streams; `open`: Poisson arrivals at `level` requests/s. */
  readonly loop: 'closed' | 'open';
  readonly level: number;
  readonly arms: Partial<Record<ArmName, ArmFigures>>;
  /** What each proxy adds to the direct figures of the same load. */
  readonly added: Partial<Record<Exclude<ArmName, 'direct'>, Added>>;
}

export interface OverheadResult {
  readonly engine: EngineSpec;
  readonly durationMs: number;
  /** Closed-loop points last at least as long as this many requests take. */
  readonly minRequests: number;
  readonly rows: OverheadRow[];
  /** CPU cores each proxy's processes use with no load, which weighs on the per-event figures of light loads. */
  readonly idleCores: Partial<Record<ArmName, Record<string, number>>>;
  readonly notes: string[];
}

function added(arm: ArmFigures, direct: ArmFigures): Added {
  return {
    ttftP50: round(arm.ttftMs.p50 - direct.ttftMs.p50),
    ttftP99: round(arm.ttftMs.p99 - direct.ttftMs.p99),
    itlP50: round(arm.itlMs.p50 - direct.itlMs.p50),
  };
}

/**
 * How long a closed-loop point runs: `durationMs`, or longer where that would
 * give fewer than `minRequests` requests (one stream finishes only ~20 in
 * 4 s, too few for a steady median, let alone a p99).
 */
function closedLoopMs(level: number, durationMs: number, minRequests: number): number {
  const answerMs = OVERHEAD_ENGINE.ttftMs + OVERHEAD_ENGINE.tokens * OVERHEAD_ENGINE.itlMs;
  return Math.max(durationMs, Math.ceil(minRequests / level) * answerMs);
}

export async function overheadScenario(options: { durationMs: number; minRequests: number; closedLoop: number[]; openLoop: number[] }): Promise<OverheadResult> {
  const setup = await startArms({ engine: OVERHEAD_ENGINE, clientTokens: OVERHEAD_ENGINE.tokens });
  const rows: OverheadRow[] = [];
  let idle: OverheadResult['idleCores'] = {};
  try {
    // Connection pools, Lua script cache and the JIT: a gateway in service has
    // compiled its per-request path long ago; a few dozen requests would
    // leave it interpreted, and the 1-stream point, measured first, would
    // time start-up rather than the gateway.
    await eachArm(setup.arms, (c) => c.closedLoop(WARM_UP.streams, WARM_UP.ms));
    idle = await idleCores(setup.arms, 2_000);
    const points = [
      ...options.closedLoop.map((level) => ({ loop: 'closed' as const, level })),
      ...options.openLoop.map((level) => ({ loop: 'open' as const, level })),
    ];
    for (const p of points) {
      const load: Load =
        p.loop === 'closed'
          ? (c) => c.closedLoop(p.level, closedLoopMs(p.level, options.durationMs, options.minRequests))
          : (c) => c.openLoop(p.level, options.durationMs);
      const arms = await eachArm(setup.arms, load);
      const direct = arms.direct!;
      rows.push({
        load: p.loop === 'closed' ? `${p.level} stream${p.level > 1 ? 's' : ''} (closed loop)` : `${p.level} req/s (Poisson)`,
        loop: p.loop,
        level: p.level,
        arms,
        added: {
          ...(arms.nginx ? { nginx: added(arms.nginx, direct) } : {}),
          infergate: added(arms.infergate!, direct),
        },
      });
    }
  } finally {
    await setup.stop();
  }
  return { engine: OVERHEAD_ENGINE, durationMs: options.durationMs, minRequests: options.minRequests, rows, idleCores: idle, notes: setup.notes };
}

const ARMS: readonly ArmName[] = ['direct', 'nginx', 'infergate'];
const PROXIES = ['nginx', 'infergate'] as const;

export function overheadSection(r: OverheadResult): string[] {
  const ran = ARMS.filter((a) => r.rows[0]?.arms[a]);
  const proxies = PROXIES.filter((a) => ran.includes(a));
  const each = (row: OverheadRow, f: (a: ArmFigures) => number): string => perArm(ran.map((a) => row.arms[a]), f);
  const added = (row: OverheadRow, f: (a: Added) => number): string =>
    proxies.map((p) => (p === 'infergate' ? `**${f(row.added[p]!)}**` : f(row.added[p]!))).join(' / ');
  const e = r.engine;
  const idleInfergate = r.idleCores.infergate;
  return [
    `## Added latency: ${ran.join(' vs. ')} (same run)`,
    '',
    `Simulated llama.cpp engine: ${e.ttftMs} ms to first token, ${e.tokens} tokens at ${e.itlMs} ms, ${e.slots} slots, so it never queues; each arm has an identical engine of its own. nginx is a plain reverse proxy (unbuffered, HTTP/1.1 keep-alive upstream). ${r.durationMs / 1000} s per arm and load (a closed loop at least as long as ${r.minRequests} requests take: ${closedLoopMs(1, r.durationMs, r.minRequests) / 1000} s at 1 stream), after ${WARM_UP.ms / 1000} s of ${WARM_UP.streams} streams to warm each arm. Times in ms: TTFT = to the first body byte of a streamed chat completion; ITL = mean gap between SSE events; added = minus direct at the same load. Columns list the arms as ${ran.join(' / ')}; infergate's added figures in bold. p99 of the small closed-loop samples is noisy.`,
    '',
    ...table(
      ['load', 'requests', 'TTFT p50', `added p50 (${proxies.join(' / ')})`, 'TTFT p99', `added p99 (${proxies.join(' / ')})`, 'ITL p50', 'failed'],
      r.rows.map((row) => [
        row.load,
        each(row, (a) => a.requests),
        each(row, (a) => a.ttftMs.p50),
        added(row, (a) => a.ttftP50),
        each(row, (a) => a.ttftMs.p99),
        added(row, (a) => a.ttftP99),
        each(row, (a) => a.itlMs.p50),
        each(row, (a) => a.failed),
      ]),
    ),
    '',
    '![TTFT distribution, direct vs. nginx vs. infergate](ttft-cdf.svg)',
    '',
    ...r.notes,
    '',
    '## Efficiency: CPU per relayed SSE event (the loads above)',
    '',
    'CPU time (user + system, from /proc) of each arm’s own processes over its share of a load point, divided by the SSE events its client received. infergate = ingress + dispatcher + Redis; nginx = its one process (`master_process off`). The engines and the load generator are not counted. CPU cores = CPU seconds per second of the run; RSS = the largest resident set seen during it.',
    '',
    ...table(
      ['load', 'events/s (nginx / infergate)', 'µs/event ingress', 'dispatcher', 'Redis', '**infergate total**', '**nginx**', 'CPU cores (infergate / nginx)', 'peak RSS MB (ingress / dispatcher / Redis / nginx)'],
      r.rows.map((row) => {
        const i = row.arms.infergate!;
        const n = row.arms.nginx;
        return [
          row.load,
          perArm([n, i], (a) => a.eventsPerSecond),
          i.cpuUsPerEvent.ingress!,
          i.cpuUsPerEvent.dispatcher!,
          i.cpuUsPerEvent.redis ?? '–',
          `**${i.cpuUsPerEvent.total}**`,
          n ? `**${n.cpuUsPerEvent.total}**` : '–',
          perArm([i, n], (a) => a.cpuCores.total),
          perArm([i.peakRssMb.ingress, i.peakRssMb.dispatcher, i.peakRssMb.redis, n?.peakRssMb.nginx]),
        ];
      }),
    ),
    '',
    ...(idleInfergate
      ? [
          `With no load at all, infergate’s processes keep ${idleInfergate.total} cores busy (ingress ${idleInfergate.ingress}, dispatcher ${idleInfergate.dispatcher}, Redis ${idleInfergate.redis ?? '–'}: heartbeats, engine polls, blocking fetches)${r.idleCores.nginx ? ` and nginx ${r.idleCores.nginx.total}` : ''}; at light loads that fixed cost dominates the per-event figure.`,
          '',
        ]
      : []),
    '![Throughput, CPU and memory against offered load](load.svg)',
    '',
  ];
}

/** The charts of this scenario, by file name. */
export function overheadCharts(r: OverheadResult): Record<string, string> {
  const single = r.rows.find((row) => row.loop === 'closed' && row.level === 1);
  const open = r.rows.filter((row) => row.loop === 'open');
  const busiest = open.at(-1);
  const cdf = (row: OverheadRow): Panel => {
    const ran = ARMS.filter((a) => row.arms[a]);
    return {
      title: `TTFT CDF, ${row.load}`,
      xLabel: 'time to first byte, ms (cut at 1.25 × the largest p99)',
      yLabel: '% of requests',
      xMax: 1.25 * Math.max(...ran.map((a) => row.arms[a]!.ttftMs.p99)),
      series: ran.map((a) => ({ name: a, points: row.arms[a]!.ttftPercentilesMs.map((ms, p) => [ms, p] as const) })),
    };
  };
  const byLoad = (title: string, yLabel: string, series: Array<[string, (row: OverheadRow) => number | undefined]>): Panel => ({
    title,
    xLabel: 'offered load, requests/s (Poisson)',
    yLabel,
    markers: true,
    series: series.map(([name, f]) => ({ name, points: open.map((row) => [row.level, f(row) ?? Number.NaN] as const) })),
  });
  const charts: Record<string, string> = {
    'ttft-cdf.svg': figure([single, busiest].filter((row): row is OverheadRow => row !== undefined).map(cdf), 2),
  };
  if (open.length > 0) {
    charts['load.svg'] = figure(
      [
        byLoad('Delivered SSE events/s', 'events/s', ARMS.map((a) => [a, (row) => row.arms[a]?.eventsPerSecond])),
        byLoad('CPU cores used', 'cores', [
          ['ingress', (row) => row.arms.infergate?.cpuCores.ingress],
          ['dispatcher', (row) => row.arms.infergate?.cpuCores.dispatcher],
          ['redis', (row) => row.arms.infergate?.cpuCores.redis],
          ['infergate total', (row) => row.arms.infergate?.cpuCores.total],
          ['nginx', (row) => row.arms.nginx?.cpuCores.total],
        ]),
        byLoad('Peak resident memory', 'MB', [
          ['ingress', (row) => row.arms.infergate?.peakRssMb.ingress],
          ['dispatcher', (row) => row.arms.infergate?.peakRssMb.dispatcher],
          ['redis', (row) => row.arms.infergate?.peakRssMb.redis],
          ['nginx', (row) => row.arms.nginx?.peakRssMb.nginx],
        ]),
      ],
      3,
    );
  }
  return charts;
}
