import { AFFINITY_ARMS, type AffinityResult } from '../scenarios/affinity.js';
import type { CapacityResult } from '../scenarios/capacity.js';
import type { FaultsResult } from '../scenarios/faults.js';
import type { MemoryResult } from '../scenarios/memory.js';
import type { OverheadResult, OverheadRow } from '../scenarios/overhead.js';
import { SCHEDULING_ARMS, type SchedulingResult } from '../scenarios/scheduling.js';
import { table } from './markdown.js';

/*
 * The targets of issue 9 (relay overhead) and issue 17 (cache-aware
 * scheduling), judged against one run's figures. A figure the
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

export interface CacheTargetInputs {
  readonly affinity?: AffinityResult | undefined;
  readonly scheduling?: SchedulingResult | undefined;
}

/** Two ingresses "get the same reuse as one": read here as at least this share of it. */
const SAME_REUSE = 0.95;
/** The heterogeneous pool's p99 with affinity on may be at most this much above affinity off (today's behaviour). */
const P99_SLACK = 1.1;

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : Math.round((a / b) * 1000) / 1000;
}

export function evaluateCacheTargets(r: CacheTargetInputs): Target[] {
  const row = (arm: string) => r.affinity?.rows.find((x) => x.arm === arm);
  const [on, two, oracle, nginx] = [row(AFFINITY_ARMS.on), row(AFFINITY_ARMS.twoIngresses), row(AFFINITY_ARMS.oracle), row(AFFINITY_ARMS.nginx)];
  const sched = (arm: string) => r.scheduling?.rows.find((x) => x.arm === arm);
  const [withAffinity, without] = [sched(SCHEDULING_ARMS.affinityDefault), sched(SCHEDULING_ARMS.affinityOff)];
  const single = r.affinity?.singleTurn;
  return [
    judge('reuse ≥ 0.9 × the oracle’s', ratio(on?.reuse, oracle?.reuse), 0.9, (v) => `${v} (${on!.reuse} vs. ${oracle!.reuse})`, true),
    judge('TTFT p50 ≤ 0.6 × nginx `least_conn`’s', ratio(on?.ttftMs.p50, nginx?.ttftMs.p50), 0.6, (v) => `${v} (${on!.ttftMs.p50} vs. ${nginx!.ttftMs.p50} ms)`),
    judge('single-turn, no shared prefixes: added TTFT p50 ≤ 0.3 ms', single?.pairedAddedP50Ms, 0.3, (v) => `${v} ms, median of the per-prompt differences (p50s ${single!.on.ttftMs.p50} vs. ${single!.off.ttftMs.p50} ms, ${single!.on.requests} requests each)`),
    judge(`two ingresses: reuse ≥ ${SAME_REUSE} × one ingress’s`, ratio(two?.reuse, on?.reuse), SAME_REUSE, (v) => `${v} (${two!.reuse} vs. ${on!.reuse})`, true),
    judge(`heterogeneous pool: e2e p99 ≤ ${P99_SLACK} × affinity off`, ratio(withAffinity?.e2eMs.p99, without?.e2eMs.p99), P99_SLACK, (v) => `${v} (${withAffinity!.e2eMs.p99} vs. ${without!.e2eMs.p99} ms)`),
    judge(`heterogeneous pool: TTFT p99 ≤ ${P99_SLACK} × affinity off`, ratio(withAffinity?.ttftMs.p99, without?.ttftMs.p99), P99_SLACK, (v) => `${v} (${withAffinity!.ttftMs.p99} vs. ${without!.ttftMs.p99} ms)`),
    judge('heterogeneous pool, affinity on: zero engine-side deferrals', withAffinity?.deferrals, 0, (v) => String(v)),
  ];
}

export function targetsSection(targets: readonly Target[], title = 'Targets (issue 9)'): string[] {
  return [
    `## ${title}`,
    '',
    ...table(
      ['target', 'measured', 'verdict'],
      targets.map((t) => [t.target, t.measured, t.verdict === 'met' ? 'met' : `**${t.verdict}**`]),
    ),
    '',
  ];
}
