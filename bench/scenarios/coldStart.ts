import type { ServiceProcess } from '@infergate/stack';
import { cpuSeconds } from '../lib/cpu.js';
import { startFleet, startSims, stopServices } from '../lib/fleet.js';
import { LoadClient, type StreamTiming } from '../lib/loadgen.js';
import { table } from '../lib/markdown.js';
import { installedNodes, NODE24_HINT, type NodeBinary } from '../lib/nodes.js';
import { percentile, round } from '../lib/stats.js';
import { OVERHEAD_ENGINE } from './overhead.js';

/*
 * A node that joins a loaded fleet: a fresh infergate (Redis, dispatcher,
 * ingress, all just started) gets the full rate from the moment it reports
 * ready. The first window is compared with the next one of the same fresh
 * fleet, and both with the same load sent straight to a warm engine just
 * before. The engines are warmed first: a GPU engine has been running long
 * before a gateway node joins, and a cold simulator would be counted
 * against the gateway. Every Node.js version installed is measured.
 */

/** About a thousand requests, so the engine simulators serve at full speed. */
const ENGINE_WARM_UP = { streams: 64, ms: 3_000 };

export interface ColdWindow {
  readonly requests: number;
  readonly failed: number;
  readonly ttftP50: number;
  readonly ttftP99: number;
  /** Minus the direct figure of the same trial. */
  readonly addedP50: number;
  readonly addedP99: number;
  /** CPU of ingress + dispatcher + Redis over the window, per SSE event the client received in it. */
  readonly cpuUsPerEvent: number;
}

export interface ColdTrial {
  readonly node: string;
  readonly direct: { ttftP50: number; ttftP99: number };
  /** The first `windowMs` after ready. */
  readonly cold: ColdWindow;
  /** The `windowMs` after that. */
  readonly warm: ColdWindow;
  /** Added TTFT p50 of the requests sent in each second after ready. */
  readonly addedP50BySecond: number[];
  /** From spawning the fleet's processes to its ingress reporting the engine available. */
  readonly startMs: number;
}

export interface ColdStartResult {
  readonly ratePerSecond: number;
  readonly windowMs: number;
  readonly trials: ColdTrial[];
  readonly notes: string[];
}

function okTtfts(timings: readonly StreamTiming[]): number[] {
  return timings.filter((t) => t.ok).map((t) => t.ttft);
}

export async function coldStartScenario(options: { ratePerSecond: number; windowMs: number; trialsPerNode: number }): Promise<ColdStartResult> {
  const nodes = installedNodes();
  const trials: ColdTrial[] = [];
  for (const node of nodes) {
    for (let i = 0; i < options.trialsPerNode; i++) trials.push(await trial(node, options));
  }
  return { ratePerSecond: options.ratePerSecond, windowMs: options.windowMs, trials, notes: nodes.length > 1 ? [] : [NODE24_HINT] };
}

async function trial(node: NodeBinary, options: { ratePerSecond: number; windowMs: number }): Promise<ColdTrial> {
  const sims: ServiceProcess[] = [];
  const clients: LoadClient[] = [];
  const client = (url: string): LoadClient => {
    const c = new LoadClient(url, { tokens: OVERHEAD_ENGINE.tokens });
    clients.push(c);
    return c;
  };
  let stopFleet: (() => Promise<void>) | undefined;
  try {
    const [directUrl, relayedUrl] = await startSims([OVERHEAD_ENGINE, OVERHEAD_ENGINE], sims);
    const direct = client(directUrl!);
    await Promise.all([direct.closedLoop(ENGINE_WARM_UP.streams, ENGINE_WARM_UP.ms), client(relayedUrl!).closedLoop(ENGINE_WARM_UP.streams, ENGINE_WARM_UP.ms)]);
    const directTtfts = okTtfts(await direct.openLoop(options.ratePerSecond, options.windowMs));
    const directP50 = percentile(directTtfts, 50);
    const directP99 = percentile(directTtfts, 99);

    const spawnedAt = performance.now();
    const fleet = await startFleet({ engines: [], engineUrls: [relayedUrl!], env: { ENGINE_SLOTS: String(OVERHEAD_ENGINE.slots) }, node: node.path });
    stopFleet = () => fleet.stop();
    const readyAt = performance.now();
    const pids = [...fleet.pidsOf('ingress'), ...fleet.pidsOf('dispatcher'), ...(fleet.redisPid ? [fleet.redisPid] : [])];
    const relayed = client(fleet.ingressUrls[0]!);
    const marks: Array<{ cpu: number; events: number }> = [];
    const mark = (): void => {
      marks.push({ cpu: pids.reduce((s, pid) => s + cpuSeconds(pid), 0), events: relayed.eventsReceived });
    };
    mark();
    const halfway = setTimeout(mark, options.windowMs);
    const timings = await relayed.openLoop(options.ratePerSecond, 2 * options.windowMs);
    clearTimeout(halfway);
    mark();

    const start = readyAt;
    const sentIn = (fromMs: number, toMs: number) => timings.filter((t) => t.startedAt - start >= fromMs && t.startedAt - start < toMs);
    const window = (fromMs: number, toMs: number, cpu: { before: { cpu: number; events: number }; after: { cpu: number; events: number } }): ColdWindow => {
      const sent = sentIn(fromMs, toMs);
      const ttfts = okTtfts(sent);
      const p50 = percentile(ttfts, 50);
      const p99 = percentile(ttfts, 99);
      const events = cpu.after.events - cpu.before.events;
      return {
        requests: sent.length,
        failed: sent.length - ttfts.length,
        ttftP50: round(p50),
        ttftP99: round(p99),
        addedP50: round(p50 - directP50),
        addedP99: round(p99 - directP99),
        cpuUsPerEvent: events > 0 ? round(((cpu.after.cpu - cpu.before.cpu) * 1e6) / events, 1) : Number.NaN,
      };
    };
    const seconds = Math.ceil((2 * options.windowMs) / 1000);
    return {
      node: node.version,
      direct: { ttftP50: round(directP50), ttftP99: round(directP99) },
      cold: window(0, options.windowMs, { before: marks[0]!, after: marks[1]! }),
      warm: window(options.windowMs, 2 * options.windowMs, { before: marks[1]!, after: marks[2]! }),
      addedP50BySecond: Array.from({ length: seconds }, (_, s) => round(percentile(okTtfts(sentIn(s * 1000, (s + 1) * 1000)), 50) - directP50, 1)),
      startMs: Math.round(readyAt - spawnedAt),
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await stopFleet?.();
    await stopServices(sims);
  }
}

export function coldStartSection(r: ColdStartResult): string[] {
  const s = r.windowMs / 1000;
  return [
    '## Cold start: the first seconds after ready',
    '',
    `A fresh infergate (its own Redis, one dispatcher, one ingress, all just started) gets ${r.ratePerSecond} req/s (Poisson) from the moment its ingress reports the engine available, for ${2 * s} s. Engine as in the added-latency section, warmed before the fleet starts (a GPU engine runs long before a gateway node joins). Cold = the requests sent in the first ${s} s; warm = those sent in the ${s} s after. Added = minus the same load sent straight to a warm engine just before, in the same trial. CPU = ingress + dispatcher + Redis over the window, per SSE event the client received in it.`,
    '',
    ...table(
      ['Node', 'start to ready, ms', 'added TTFT p50 cold / warm', '**cold ÷ warm**', 'added TTFT p99 cold / warm', 'CPU µs/event cold / warm', 'failed'],
      r.trials.map((t) => [
        t.node,
        t.startMs,
        `${t.cold.addedP50} / ${t.warm.addedP50}`,
        `**${round(t.cold.addedP50 / t.warm.addedP50, 2)}**`,
        `${t.cold.addedP99} / ${t.warm.addedP99}`,
        `${t.cold.cpuUsPerEvent} / ${t.warm.cpuUsPerEvent}`,
        t.cold.failed + t.warm.failed,
      ]),
    ),
    '',
    'Added TTFT p50 (ms) of the requests sent in each second after ready:',
    '',
    ...table(
      ['Node', ...(r.trials[0]?.addedP50BySecond.map((_, i) => `${i + 1}`) ?? [])],
      r.trials.map((t) => [t.node, ...t.addedP50BySecond]),
    ),
    '',
    ...r.notes,
    '',
  ];
}
