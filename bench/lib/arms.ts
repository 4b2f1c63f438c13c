import { setMaxListeners } from 'node:events';
import type { ServiceProcess } from '@infergate/stack';
import { measure, mebibytes, type Measured } from './cpu.js';
import { startFleet, startSims, stopServices, type EngineSpec, type Fleet } from './fleet.js';
import { LoadClient, type StreamTiming } from './loadgen.js';
import { NGINX_MISSING, nginxAvailable, startNginx, type Nginx } from './nginx.js';
import { quantiles, round, summarize } from './stats.js';
import { poll, sleep } from './wait.js';

/*
 * The same load three ways, in one run: straight to an engine, through nginx
 * and through infergate. Each arm has an identical engine of its own: load
 * sent straight to a dispatcher's engine would count as outside load and
 * close its gate.
 */

export type ArmName = 'direct' | 'nginx' | 'infergate';

export interface Arm {
  readonly name: ArmName;
  readonly client: LoadClient;
  /** The processes that carry this arm's traffic between client and engine, by role. */
  readonly pids: Readonly<Record<string, number>>;
}

export interface Arms {
  readonly arms: readonly Arm[];
  readonly notes: string[];
  stop(): Promise<void>;
}

export type Load = (client: LoadClient) => Promise<StreamTiming[]>;

export async function startArms(options: { engine: EngineSpec; clientTokens: number }): Promise<Arms> {
  const sims: ServiceProcess[] = [];
  const clients: LoadClient[] = [];
  const notes: string[] = [];
  let nginx: Nginx | undefined;
  let fleet: Fleet | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all(clients.map((c) => c.close()));
    await fleet?.stop();
    await nginx?.stop();
    await stopServices(sims);
  };
  try {
    const withNginx = nginxAvailable();
    if (!withNginx) notes.push(NGINX_MISSING);
    const [directUrl, relayedUrl, proxiedUrl] = await startSims(withNginx ? [options.engine, options.engine, options.engine] : [options.engine, options.engine], sims);
    fleet = await startFleet({ engines: [], engineUrls: [relayedUrl!], env: { ENGINE_SLOTS: String(options.engine.slots) } });
    if (proxiedUrl) nginx = await startNginx([{ url: proxiedUrl }]);
    const client = (url: string): LoadClient => {
      const c = new LoadClient(url, { tokens: options.clientTokens });
      clients.push(c);
      return c;
    };
    const infergatePids: Record<string, number> = { ingress: fleet.pidsOf('ingress')[0]!, dispatcher: fleet.pidsOf('dispatcher')[0]! };
    if (fleet.redisPid) infergatePids.redis = fleet.redisPid;
    else notes.push('Redis runs outside this machine’s process table (a container), so its CPU is not counted.');
    const arms: Arm[] = [
      { name: 'direct', client: client(directUrl!), pids: {} },
      ...(nginx ? [{ name: 'nginx' as const, client: client(nginx.url), pids: { nginx: nginx.pid } }] : []),
      { name: 'infergate', client: client(fleet.ingressUrls[0]!), pids: infergatePids },
    ];
    return { arms, notes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What the arm's processes spent: per received SSE event and in cores, each process and `total`. */
export interface CpuFigures {
  readonly cpuUsPerEvent: Record<string, number>;
  readonly cpuCores: Record<string, number>;
}

export interface ArmFigures extends CpuFigures {
  readonly requests: number;
  /** Requests that did not end with a complete stream. */
  readonly failed: number;
  readonly ttftMs: { p50: number; p90: number; p99: number };
  readonly itlMs: { p50: number };
  /** SSE events the client received per second of the run. */
  readonly eventsPerSecond: number;
  readonly peakRssMb: Record<string, number>;
  /** TTFT of the successful requests at each percent 0…100. */
  readonly ttftPercentilesMs: number[];
}

export interface ThroughputFigures extends CpuFigures {
  readonly eventsPerSecond: number;
  /** Requests that ended inside the run (the last ones are cut when it ends), and how many of them failed. */
  readonly completed: number;
  readonly failed: number;
}

function withTotal(byProcess: Record<string, number>, digits: number): Record<string, number> {
  const total = Object.values(byProcess).reduce((a, b) => a + b, 0);
  return Object.fromEntries(Object.entries({ ...byProcess, total }).map(([k, v]) => [k, round(v, digits)]));
}

function cpuFigures(cpuSeconds: Record<string, number>, events: number, wallSeconds: number): CpuFigures {
  const entries = Object.entries(cpuSeconds);
  return {
    cpuUsPerEvent: withTotal(Object.fromEntries(entries.map(([k, s]) => [k, events ? (s * 1e6) / events : 0])), 1),
    cpuCores: withTotal(Object.fromEntries(entries.map(([k, s]) => [k, s / wallSeconds])), 3),
  };
}

export function armFigures(m: Measured<StreamTiming[]>): ArmFigures {
  const ok = m.result.filter((t) => t.ok);
  const ttft = summarize(ok.map((t) => t.ttft));
  const events = m.result.reduce((n, t) => n + t.events, 0);
  return {
    requests: m.result.length,
    failed: m.result.length - ok.length,
    ttftMs: { p50: round(ttft.p50), p90: round(ttft.p90), p99: round(ttft.p99) },
    itlMs: { p50: round(summarize(ok.map((t) => t.itl)).p50) },
    eventsPerSecond: Math.round(events / m.wallSeconds),
    ...cpuFigures(m.cpuSeconds, events, m.wallSeconds),
    peakRssMb: mebibytes(m.peakRssBytes),
    ttftPercentilesMs: quantiles(ok.map((t) => t.ttft)).map((v) => round(v)),
  };
}

/** Runs `load` on each arm in turn, accounting the CPU and memory of the arm's own processes. */
export async function eachArm(arms: readonly Arm[], load: Load): Promise<Partial<Record<ArmName, ArmFigures>>> {
  const out: Partial<Record<ArmName, ArmFigures>> = {};
  for (const arm of arms) out[arm.name] = armFigures(await measure(arm.pids, () => load(arm.client)));
  return out;
}

const MAX_RAMP_MS = 15_000;

/**
 * The steady rate of each arm in turn: `concurrency` closed-loop streams,
 * events and CPU counted over `windowMs` once all of them flow and `rampMs`
 * has passed (at most `MAX_RAMP_MS`), then the streams are cut. Counting a
 * window rather than whole requests keeps long answers from stretching the
 * run or diluting the rate with their ramp-up and ramp-down.
 */
export async function eachArmThroughput(arms: readonly Arm[], options: { concurrency: number; rampMs: number; windowMs: number }): Promise<Partial<Record<ArmName, ThroughputFigures>>> {
  const out: Partial<Record<ArmName, ThroughputFigures>> = {};
  for (const arm of arms) {
    const cut = new AbortController();
    setMaxListeners(options.concurrency + 16, cut.signal);
    const flowingBefore = arm.client.streamsFlowing;
    const load = arm.client.closedLoop(options.concurrency, Infinity, cut.signal);
    try {
      await sleep(options.rampMs);
      await poll(() => arm.client.streamsFlowing - flowingBefore >= options.concurrency, { timeoutMs: MAX_RAMP_MS - options.rampMs, everyMs: 50 });
      const before = arm.client.eventsReceived;
      const m = await measure(arm.pids, () => sleep(options.windowMs));
      const events = arm.client.eventsReceived - before;
      const cutAt = performance.now();
      cut.abort();
      const ended = (await load).filter((t) => t.startedAt + t.total < cutAt);
      out[arm.name] = { eventsPerSecond: Math.round(events / m.wallSeconds), ...cpuFigures(m.cpuSeconds, events, m.wallSeconds), completed: ended.length, failed: ended.filter((t) => !t.ok).length };
    } finally {
      cut.abort();
      await load;
    }
  }
  return out;
}

/** CPU cores each arm's processes use with no load at all: heartbeats, engine polls, blocking fetches. */
export async function idleCores(arms: readonly Arm[], ms: number): Promise<Partial<Record<ArmName, Record<string, number>>>> {
  const out: Partial<Record<ArmName, Record<string, number>>> = {};
  for (const arm of arms.filter((a) => Object.keys(a.pids).length > 0)) {
    const m = await measure(arm.pids, () => sleep(ms));
    out[arm.name] = cpuFigures(m.cpuSeconds, 0, m.wallSeconds).cpuCores;
  }
  return out;
}
