import { loadConfig } from '@infergate/shared';
import { startSimulator } from '@infergate/sim';
import type { ServiceProcess } from '@infergate/stack';
import { startFleet, type EngineSpec, type Fleet } from '../lib/fleet.js';
import { LoadClient } from '../lib/loadgen.js';
import { table } from '../lib/markdown.js';
import { simConfigure, simResetStats, simStats } from '../lib/sim.js';
import { round, summarize } from '../lib/stats.js';
import { poll, sleep } from '../lib/wait.js';

/*
 * How fast infergate notices what goes away.
 *
 * Cancel: a client leaves mid-stream; the time until the engine's slot is
 * free. The engine runs inside this process so its occupancy can be read
 * every millisecond without an HTTP round trip in the way.
 *
 * Failover: two engines, each with its dispatcher, under light steady load.
 * A few requests are parked on the victim before their response starts (the
 * other dispatcher is paused while they are taken, and the victim engine
 * delays them); then the victim engine, or its dispatcher, is SIGKILLed.
 * Parked requests must be served by the other engine; streams already
 * flowing through the victim cannot be, and end with an error.
 */

const FAILOVER_ENGINE: EngineSpec = { slots: 8, ttftMs: 20, itlMs: 5, tokens: 32 };
/** BullMQ lock and stalled-check periods, the defaults: a killed dispatcher's jobs return within the lock plus two checks. */
const DEFAULTS = loadConfig('dispatcher', { ENGINE_URL: 'http://127.0.0.1:1' });
const LOCKS = { JOB_LOCK_SECONDS: String(DEFAULTS.JOB_LOCK_SECONDS), STALLED_CHECK_SECONDS: String(DEFAULTS.STALLED_CHECK_SECONDS) };
const PARKED = 4;
const BACKGROUND_STREAMS = 4;
const BACKGROUND_MS = 3_000;

export interface CancelResult {
  readonly samples: number;
  /** ms from the client aborting to the engine slot being free. */
  readonly ms: { p50: number; p99: number; max: number };
  /** Cancels the engine itself counted; equal to `samples` when every abort reached it. */
  readonly engineCancellations: number;
}

export interface FailoverResult {
  readonly victim: 'engine' | 'dispatcher';
  readonly parked: number;
  /** Parked requests that completed on the other engine. */
  readonly parkedServed: number;
  /** From the kill to the first byte of the first and of the last parked request served elsewhere. */
  readonly servedElsewhereMs: { first: number; last: number } | undefined;
  /** The steady load: streams in flight at the kill (on either engine), and how many of them failed. */
  readonly inFlightAtKill: number;
  readonly inFlightFailed: number;
  /** Requests sent after the kill, and how many of them failed. */
  readonly sentAfterKill: number;
  readonly failedAfterKill: number;
}

export interface FaultsResult {
  readonly cancel: CancelResult;
  readonly failover: FailoverResult[];
  readonly settings: Record<string, string>;
}

async function cancelLatency(samples: number): Promise<CancelResult> {
  const sim = await startSimulator({ kind: 'llamacpp', slots: 4, ttftMs: 20, itlMs: 10, tokens: 100_000 });
  let fleet: Fleet | undefined;
  let client: LoadClient | undefined;
  try {
    fleet = await startFleet({ engines: [], engineUrls: [sim.url], env: { ENGINE_SLOTS: '4' } });
    client = new LoadClient(fleet.ingressUrls[0]!, { tokens: 100_000 });
    const ms: number[] = [];
    for (let i = 0; i < samples; i++) {
      const leave = new AbortController();
      let flowing!: () => void;
      const firstByte = new Promise<void>((resolve) => (flowing = resolve));
      const stream = client.stream({ signal: leave.signal, onFirstByte: flowing });
      if (!(await Promise.race([firstByte.then(() => true), stream.then(() => false)]))) throw new Error('a stream of the cancel test ended before it started');
      // A few tokens in, as a reader who gives up mid-answer.
      await sleep(50);
      const leftAt = performance.now();
      leave.abort();
      if (await poll(() => sim.stats().processing === 0, { timeoutMs: 5_000, everyMs: 1 })) ms.push(performance.now() - leftAt);
      await stream;
    }
    const s = summarize(ms);
    return { samples: ms.length, ms: { p50: round(s.p50, 1), p99: round(s.p99, 1), max: round(Math.max(...ms), 1) }, engineCancellations: sim.stats().cancellations };
  } finally {
    await client?.close();
    await fleet?.stop();
    await sim.close();
  }
}

function isAlive(p: ServiceProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

async function failover(victim: 'engine' | 'dispatcher'): Promise<FailoverResult> {
  const fleet = await startFleet({ engines: [FAILOVER_ENGINE, FAILOVER_ENGINE], env: LOCKS });
  const client = new LoadClient(fleet.ingressUrls[0]!, { tokens: FAILOVER_ENGINE.tokens });
  const [victimEngine] = fleet.processes.filter((p) => p.name === 'sim');
  const [victimDispatcher, otherDispatcher] = fleet.processes.filter((p) => p.name === 'dispatcher');
  const victimUrl = fleet.engineUrls[0]!;
  const pending: Array<Promise<unknown>> = [];
  try {
    await client.closedLoop(4, 1_000);
    await simResetStats(victimUrl);
    // Only the victim may take the parked requests, and it must not answer them.
    otherDispatcher!.child.kill('SIGSTOP');
    await simConfigure(victimUrl, { slowStartMs: 60_000, faultCount: PARKED });
    const parked = Array.from({ length: PARKED }, () => client.stream());
    pending.push(...parked);
    if (!(await poll(async () => (await simStats(victimUrl)).requests >= PARKED, { timeoutMs: 10_000, everyMs: 20 }))) {
      throw new Error('the victim engine never got the parked requests');
    }
    otherDispatcher!.child.kill('SIGCONT');
    const background = client.closedLoop(BACKGROUND_STREAMS, BACKGROUND_MS);
    pending.push(background);
    await sleep(500);
    const killedAt = performance.now();
    (victim === 'engine' ? victimEngine! : victimDispatcher!).child.kill('SIGKILL');

    const served = (await Promise.all(parked)).filter((t) => t.ok);
    const firstBytes = served.map((t) => t.startedAt + t.ttft - killedAt);
    const steady = await background;
    const inFlight = steady.filter((t) => t.startedAt < killedAt && t.startedAt + t.total > killedAt);
    const after = steady.filter((t) => t.startedAt >= killedAt);
    return {
      victim,
      parked: PARKED,
      parkedServed: served.length,
      servedElsewhereMs: firstBytes.length ? { first: round(Math.min(...firstBytes), 0), last: round(Math.max(...firstBytes), 0) } : undefined,
      inFlightAtKill: inFlight.length,
      inFlightFailed: inFlight.filter((t) => !t.ok).length,
      sentAfterKill: after.length,
      failedAfterKill: after.filter((t) => !t.ok).length,
    };
  } finally {
    if (isAlive(otherDispatcher!)) otherDispatcher!.child.kill('SIGCONT');
    await Promise.allSettled(pending);
    await client.close();
    await fleet.stop();
  }
}

export async function faultsScenario(options: { cancelSamples: number }): Promise<FaultsResult> {
  return {
    cancel: await cancelLatency(options.cancelSamples),
    failover: [await failover('engine'), await failover('dispatcher')],
    settings: LOCKS,
  };
}

export function faultsSection(r: FaultsResult): string[] {
  const c = r.cancel;
  return [
    '## Cancellation and failover',
    '',
    `Cancel: ${c.samples} times in a row a client reads the start of a stream, then goes away; the time from its abort to the engine’s slot being free (the engine runs in the benchmark process and is read every millisecond). p50 **${c.ms.p50} ms**, p99 **${c.ms.p99} ms**, max ${c.ms.max} ms; the engine counted ${c.engineCancellations} cancellations.`,
    '',
    `Failover: two engines (${FAILOVER_ENGINE.slots} slots, ${FAILOVER_ENGINE.ttftMs} ms to first token, ${FAILOVER_ENGINE.tokens} tokens at ${FAILOVER_ENGINE.itlMs} ms), a dispatcher each, ${BACKGROUND_STREAMS} closed-loop streams of steady load. ${PARKED} requests are parked on the victim before their response starts, then the victim is SIGKILLed. ${Object.entries(r.settings).map(([k, v]) => `${k}=${v}`).join(', ')} (the defaults). Streams already flowing through the victim cannot move and end with an SSE error event, by design.`,
    '',
    ...table(
      ['SIGKILLed', 'parked requests served elsewhere', '**first byte after the kill** (first / last parked), ms', 'in flight at the kill: failed', 'sent after the kill: failed'],
      r.failover.map((f) => [
        f.victim === 'engine' ? 'the engine' : 'its dispatcher',
        `${f.parkedServed} of ${f.parked}`,
        f.servedElsewhereMs ? `**${f.servedElsewhereMs.first}** / ${f.servedElsewhereMs.last}` : '–',
        `${f.inFlightFailed} of ${f.inFlightAtKill}`,
        `${f.failedAfterKill} of ${f.sentAfterKill}`,
      ]),
    ),
    '',
  ];
}
