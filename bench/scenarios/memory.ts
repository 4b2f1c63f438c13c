import { setMaxListeners } from 'node:events';
import { measure, mebibytes, openFilesLimit } from '../lib/cpu.js';
import { startFleet, type EngineSpec } from '../lib/fleet.js';
import { LoadClient, type StreamTiming } from '../lib/loadgen.js';
import { table } from '../lib/markdown.js';
import { simStats } from '../lib/sim.js';
import { round } from '../lib/stats.js';
import { figure } from '../lib/svg.js';
import { poll, sleep } from '../lib/wait.js';

/*
 * Memory per open stream: ingress and dispatcher RSS while the load
 * generator holds more and more slow streams open (a token every 800 ms,
 * shorter than the dispatcher's heartbeat interval, so tokens alone keep
 * them alive). At the end every client goes away at once and the engine's
 * slots are counted back, which is cancellation at scale.
 */

export const MEMORY_ENGINE: EngineSpec = { slots: 2048, ttftMs: 20, itlMs: 800, tokens: 1_000_000 };
/** Each open stream costs the load generator one descriptor; this covers the rest of its files and sockets. */
const SPARE_FILES = 256;
/** A step stops waiting for its streams to flow once none has started for this long. */
const STALL_MS = 3_000;
const SETTLE_MS = 1_500;

export interface MemoryStep {
  readonly streams: number;
  /** Streams whose first byte had arrived when memory was read. */
  readonly flowing: number;
  readonly rssMb: Record<string, number>;
}

export interface MemoryResult {
  readonly engine: EngineSpec;
  readonly openFilesLimit: number;
  readonly idleRssMb: Record<string, number>;
  readonly steps: MemoryStep[];
  /** From every client going away at once to the engine having no request left. */
  readonly allCancelledMs: number | undefined;
  readonly notes: string[];
}

async function peakRssMb(pids: Record<string, number>, ms: number): Promise<Record<string, number>> {
  return mebibytes((await measure(pids, () => sleep(ms))).peakRssBytes);
}

export async function memoryScenario(options: { steps: number[] }): Promise<MemoryResult> {
  const notes: string[] = [];
  const limit = openFilesLimit();
  const steps = options.steps.filter((n) => n + SPARE_FILES <= limit);
  if (steps.length < options.steps.length) {
    notes.push(`The open-files limit (\`ulimit -n\` = ${limit}) is too low for ${options.steps.filter((n) => !steps.includes(n)).join(', ')} streams; raise it to run them.`);
  }
  const most = Math.max(0, ...steps);
  const fleet = await startFleet({
    engines: [MEMORY_ENGINE],
    env: { ENGINE_SLOTS: String(MEMORY_ENGINE.slots), MAX_QUEUED_PER_MODEL: String(4 * most) },
  });
  const engineUrl = fleet.engineUrls[0]!;
  const client = new LoadClient(fleet.ingressUrls[0]!, { tokens: MEMORY_ENGINE.tokens, connections: most + 64 });
  const leave = new AbortController();
  // Every stream listens to this one signal.
  setMaxListeners(most + 16, leave.signal);
  const open: Array<Promise<StreamTiming>> = [];
  const measured: MemoryStep[] = [];
  let idleRssMb: Record<string, number> = {};
  let allCancelledMs: number | undefined;
  try {
    const pids = { ingress: fleet.pidsOf('ingress')[0]!, dispatcher: fleet.pidsOf('dispatcher')[0]! };
    idleRssMb = await peakRssMb(pids, 500);
    let flowing = 0;
    let lastStartAt = 0;
    const onFirstByte = (): void => {
      flowing++;
      lastStartAt = performance.now();
    };
    for (const n of steps) {
      while (open.length < n) open.push(client.stream({ signal: leave.signal, onFirstByte }));
      lastStartAt = performance.now();
      await poll(() => flowing >= n || performance.now() - lastStartAt > STALL_MS, { timeoutMs: Infinity, everyMs: 100 });
      await sleep(SETTLE_MS);
      measured.push({ streams: n, flowing, rssMb: await peakRssMb(pids, 1_000) });
    }
    const stalled = measured.filter((s) => s.flowing < s.streams);
    if (stalled.length > 0) {
      notes.push(`Not every open stream was flowing: only ${stalled.map((s) => `${s.flowing} of ${s.streams}`).join(', ')} had their first byte when memory was read.`);
    }
    const leftAt = performance.now();
    leave.abort();
    if (await poll(async () => (await simStats(engineUrl)).processing === 0, { timeoutMs: 30_000, everyMs: 20 })) {
      allCancelledMs = round(performance.now() - leftAt, 0);
    }
  } finally {
    leave.abort();
    await Promise.all(open);
    await client.close();
    await fleet.stop();
  }
  return { engine: MEMORY_ENGINE, openFilesLimit: limit, idleRssMb, steps: measured, allCancelledMs, notes };
}

export function memorySection(r: MemoryResult): string[] {
  const e = r.engine;
  const perStream = (step: MemoryStep, role: string): string => round(((step.rssMb[role]! - r.idleRssMb[role]!) * 1024) / step.streams, 0).toString();
  return [
    '## Memory with open streams',
    '',
    `One ingress and one dispatcher (ENGINE_SLOTS ${e.slots}) in front of an engine with ${e.slots} slots that sends a token every ${e.itlMs} ms, so streams stay open. The load generator opens streams up to each count, waits until they flow (first byte) or stop starting, then reads the largest RSS over 1 s. The open-files limit of the run (\`ulimit -n\`, inherited by every process) was ${r.openFilesLimit}: each stream holds one socket in each of the load generator, the ingress, the dispatcher and the engine.`,
    '',
    ...table(
      ['open streams', 'flowing', '**ingress RSS MB**', 'dispatcher RSS MB', 'KB per stream over idle (ingress / dispatcher)'],
      [
        ['0 (idle)', 0, r.idleRssMb.ingress!, r.idleRssMb.dispatcher!, '–'],
        ...r.steps.map((s) => [s.streams, s.flowing, `**${s.rssMb.ingress}**`, s.rssMb.dispatcher!, `${perStream(s, 'ingress')} / ${perStream(s, 'dispatcher')}`]),
      ],
    ),
    '',
    `Every client then left at once: the engine had no request left ${r.allCancelledMs === undefined ? 'only after more than 30 s' : `${r.allCancelledMs} ms later`}.`,
    '',
    ...r.notes,
    '',
    '![Resident memory against open streams](memory.svg)',
    '',
  ];
}

export function memoryChart(r: MemoryResult): string {
  const points = (role: string): Array<readonly [number, number]> => [[0, r.idleRssMb[role]!], ...r.steps.map((s) => [s.streams, s.rssMb[role]!] as const)];
  return figure([
    {
      title: 'Resident memory with open slow streams',
      xLabel: 'open streams',
      yLabel: 'RSS, MB',
      markers: true,
      series: [
        { name: 'ingress', points: points('ingress') },
        { name: 'dispatcher', points: points('dispatcher') },
      ],
    },
  ]);
}
