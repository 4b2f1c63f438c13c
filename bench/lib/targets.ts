import type { CapacityResult } from '../scenarios/capacity.js';
import type { FaultsResult } from '../scenarios/faults.js';
import type { MemoryResult } from '../scenarios/memory.js';
import type { OverheadResult, OverheadRow } from '../scenarios/overhead.js';
import { table } from './markdown.js';

/*
 * The targets of issue 9, judged against one run's figures. A figure the
 * run did not produce (a --quick run, a failed scenario) is "not measured";
 * one taken under conditions that defeat its meaning is "not valid".
 */

export type Verdict = 'met' | 'missed' | 'not measured' | 'not valid';

export interface Target {
  readonly target: string;
  readonly measured: string;
  readonly verdict: Verdict;
}

export interface TargetInputs {
  readonly overhead?: OverheadResult | undefined;
  readonly capacity?: CapacityResult | undefined;
  readonly memory?: MemoryResult | undefined;
  readonly faults?: FaultsResult | undefined;
}

const ANCHOR_RATE = 300;
const MEMORY_STREAMS = 2_000;

function judge(target: string, value: number | undefined, limit: number, show: (v: number) => string, atLeast = false): Target {
  if (value === undefined || Number.isNaN(value)) return { target, measured: '–', verdict: 'not measured' };
  return { target, measured: show(value), verdict: (atLeast ? value >= limit : value <= limit) ? 'met' : 'missed' };
}

function overheadRow(r: OverheadResult | undefined, loop: OverheadRow['loop'], level: number): OverheadRow | undefined {
  return r?.rows.find((row) => row.loop === loop && row.level === level);
}

export function evaluateTargets(r: TargetInputs): Target[] {
  const busy = overheadRow(r.overhead, 'open', ANCHOR_RATE);
  const single = overheadRow(r.overhead, 'closed', 1);
  const relay = busy?.arms.infergate;
  const cpu = judge(
    `≤ 50 µs CPU per relayed SSE event, ingress + dispatcher + Redis (at ${ANCHOR_RATE} req/s)`,
    relay?.cpuUsPerEvent.total,
    50,
    (v) => `${v} µs (ingress ${relay!.cpuUsPerEvent.ingress}, dispatcher ${relay!.cpuUsPerEvent.dispatcher}, Redis ${relay!.cpuUsPerEvent.redis ?? 'not counted'}; nginx ${busy!.arms.nginx?.cpuUsPerEvent.total ?? '–'})`,
  );
  const step = r.memory?.steps.find((s) => s.streams === MEMORY_STREAMS);
  const memory = judge(`ingress RSS ≤ 150 MB at ${MEMORY_STREAMS.toLocaleString('en')} open streams`, step?.rssMb.ingress, 150, (v) => `${v} MB (${step!.flowing} of ${step!.streams} streams flowing)`);
  return [
    judge(`added TTFT at ${ANCHOR_RATE} req/s: p50 ≤ 4 ms`, busy?.added.infergate?.ttftP50, 4, (v) => `${v} ms`),
    judge(`added TTFT at ${ANCHOR_RATE} req/s: p99 ≤ 20 ms`, busy?.added.infergate?.ttftP99, 20, (v) => `${v} ms`),
    judge('added TTFT at 1 stream: p50 ≤ 3 ms', single?.added.infergate?.ttftP50, 3, (v) => `${v} ms`),
    relay && relay.cpuUsPerEvent.redis === undefined ? { ...cpu, verdict: 'not valid' } : cpu,
    judge(`relay capacity ≥ 85 % of direct at ${r.capacity?.concurrency ?? 256} streams`, r.capacity?.ofDirect.infergate, 0.85, (v) => `${Math.round(v * 100)} % (${r.capacity!.arms.infergate!.eventsPerSecond} of ${r.capacity!.arms.direct!.eventsPerSecond} events/s)`, true),
    step && step.flowing < step.streams ? { ...memory, verdict: 'not valid' } : memory,
    judge('cancel (client gone → engine slot free) ≤ 100 ms, p99', r.faults?.cancel.ms.p99, 100, (v) => `${v} ms (p50 ${r.faults!.cancel.ms.p50}, max ${r.faults!.cancel.ms.max})`),
  ];
}

export function targetsSection(targets: readonly Target[]): string[] {
  return [
    '## Targets (issue 9)',
    '',
    ...table(
      ['target', 'measured', 'verdict'],
      targets.map((t) => [t.target, t.measured, t.verdict === 'met' ? 'met' : `**${t.verdict}**`]),
    ),
    '',
  ];
}
