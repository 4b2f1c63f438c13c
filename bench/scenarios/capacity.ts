import { eachArmThroughput, startArms, type ArmName, type ThroughputFigures } from '../lib/arms.js';
import type { EngineSpec } from '../lib/fleet.js';
import { table } from '../lib/markdown.js';
import { round } from '../lib/stats.js';

/*
 * Relay capacity: how many SSE events per second one ingress and one
 * dispatcher deliver when the engine is never the bottleneck (no delays,
 * long answers, more slots than streams), as a fraction of what the same
 * load generator gets from an identical engine directly. On one machine
 * every arm shares the cores with the load generator and its engine, so the
 * fraction is relative to this machine, not an absolute ceiling.
 */

export const CAPACITY_ENGINE: EngineSpec = { slots: 512, ttftMs: 0, itlMs: 0, tokens: 256 };

export interface CapacityResult {
  readonly engine: EngineSpec;
  readonly concurrency: number;
  /** Events are counted over this window, after a ramp-up of `rampMs`. */
  readonly windowMs: number;
  readonly rampMs: number;
  readonly arms: Partial<Record<ArmName, ThroughputFigures>>;
  /** Events/s of each proxy over events/s direct. */
  readonly ofDirect: Partial<Record<Exclude<ArmName, 'direct'>, number>>;
  readonly notes: string[];
}

export async function capacityScenario(options: { windowMs: number; concurrency: number }): Promise<CapacityResult> {
  // The ramp-up doubles as the warm-up: connection pools, JIT, Lua script cache.
  const rampMs = 1_500;
  const setup = await startArms({ engine: CAPACITY_ENGINE, clientTokens: CAPACITY_ENGINE.tokens });
  try {
    const arms = await eachArmThroughput(setup.arms, { concurrency: options.concurrency, rampMs, windowMs: options.windowMs });
    const direct = arms.direct!.eventsPerSecond;
    const ofDirect = Object.fromEntries(
      (['nginx', 'infergate'] as const).filter((a) => arms[a]).map((a) => [a, round(arms[a]!.eventsPerSecond / direct, 3)]),
    );
    return { engine: CAPACITY_ENGINE, concurrency: options.concurrency, windowMs: options.windowMs, rampMs, arms, ofDirect, notes: setup.notes };
  } finally {
    await setup.stop();
  }
}

export function capacitySection(r: CapacityResult): string[] {
  const e = r.engine;
  const ran = (['direct', 'nginx', 'infergate'] as const).filter((a) => r.arms[a]);
  return [
    `## Relay capacity: SSE events/s at ${r.concurrency} concurrent streams`,
    '',
    `A simulated engine that is never the bottleneck (${e.ttftMs} ms to first token, ${e.itlMs} ms between tokens, ${e.tokens} tokens per answer, ${e.slots} slots), ${r.concurrency} closed-loop streams per arm, events counted over ${r.windowMs / 1000} s after ${r.rampMs / 1000} s of ramp-up, each arm on an identical engine of its own: one ingress + one dispatcher for infergate. The load generator, the engine and the relay share this machine’s cores, so “of direct” is relative to what this machine can drive, not a server’s ceiling.`,
    '',
    ...table(
      ['arm', 'SSE events/s', '**of direct**', 'requests completed', 'failed', 'CPU µs/event', 'CPU cores'],
      ran.map((a) => {
        const f = r.arms[a]!;
        return [a, f.eventsPerSecond, a === 'direct' ? '1' : `**${r.ofDirect[a]}**`, f.completed, f.failed, a === 'direct' ? '–' : f.cpuUsPerEvent.total!, a === 'direct' ? '–' : f.cpuCores.total!];
      }),
    ),
    '',
    ...r.notes,
    '',
  ];
}
