import type { ServiceProcess } from '@infergate/stack';
import { freePorts, RedisProcesses, startRedisCluster } from '../../tests/support/redisCluster.js';
import { cpuSeconds } from '../lib/cpu.js';
import { startFleet, startSims, type EngineSpec, type Fleet } from '../lib/fleet.js';
import { LoadClient, type StreamTiming } from '../lib/loadgen.js';
import { round, summarize } from '../lib/stats.js';

/*
 * The same fleet on one Redis and on a local 6-node Redis Cluster (3
 * masters, 3 replicas), in one run: relay capacity with engines that answer
 * at once (SSE events/s, and every component's CPU per request and per
 * event, the figures of the capacity model in docs/redis-scaling.md), then
 * added TTFT with a realistic engine against that engine served directly.
 */

type Component = 'ingress' | 'dispatcher' | 'redis' | 'engine';

export interface CapacityRun {
  readonly tokens: number;
  readonly requestsPerSecond: number;
  readonly eventsPerSecond: number;
  readonly failed: number;
}

export interface ClusterRow {
  readonly redis: string;
  readonly streams: number;
  /** Short and long responses: the fit below separates per-request from per-event cost. */
  readonly capacity: readonly CapacityRun[];
  /**
   * CPU microseconds of all processes of a kind (Redis: every node,
   * replicas included), as `perRequest + perEvent × events`, fitted to the
   * two capacity runs.
   */
  readonly cpuUs: Readonly<Record<Component, { readonly perRequest: number; readonly perEvent: number }>>;
  readonly addedTtftMs: ReadonlyArray<{ readonly streams: number; readonly p50: number; readonly p99: number; readonly failed: number }>;
}

// Three engines, each serving a model whose queue hashes to its own master.
const MODELS = ['alpha', 'beta', 'delta'];
const SHORT = 16;
const LONG = 128;
const FAST: EngineSpec = { slots: 1024, ttftMs: 0, itlMs: 0, tokens: LONG };
const REALISTIC = { ttftMs: 20, itlMs: 5, tokens: 32 };

interface RedisUnderTest {
  readonly name: string;
  readonly env: Record<string, string>;
  pids(): number[];
  stop(): Promise<void>;
}

async function singleRedis(): Promise<RedisUnderTest> {
  const processes = new RedisProcesses();
  const [port] = await freePorts(1);
  await processes.start(port!, processes.serverArgs(port!));
  return { name: 'one Redis', env: { REDIS_URL: `redis://127.0.0.1:${port}` }, pids: () => processes.pids(), stop: () => processes.stop() };
}

async function clusterRedis(): Promise<RedisUnderTest> {
  const cluster = await startRedisCluster();
  return { name: 'Redis Cluster, 3 masters + 3 replicas', env: { REDIS_CLUSTER_NODES: cluster.seeds }, pids: () => cluster.pids(), stop: () => cluster.stop() };
}

function cpuOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

async function configureEngines(urls: readonly string[], patch: object): Promise<void> {
  await Promise.all(
    urls.map(async (url) => {
      const res = await fetch(`${url}/__sim/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
      if (!res.ok) throw new Error(`${url}/__sim/config answered ${res.status}`);
    }),
  );
}

/** Closed-loop streams spread over one client per ingress (each ingress defaults to its own model). */
async function spread(clients: readonly LoadClient[], streams: number, durationMs: number): Promise<StreamTiming[]> {
  const parts = await Promise.all(clients.map((c, i) => c.closedLoop(Math.floor(streams / clients.length) + (i < streams % clients.length ? 1 : 0), durationMs)));
  return parts.flat();
}

async function measure(redis: RedisUnderTest, direct: LoadClient, options: { streams: number; durationMs: number; ttftLoads: readonly number[] }): Promise<ClusterRow> {
  let fleet: Fleet | undefined;
  const clients: LoadClient[] = [];
  try {
    fleet = await startFleet({
      engines: MODELS.map((model) => ({ ...FAST, model })),
      ingressCount: MODELS.length,
      redisEnv: redis.env,
      ingressEnv: (i) => ({ DEFAULT_MODEL: MODELS[i]! }),
      env: { ENGINE_SLOTS: String(FAST.slots) },
    });
    clients.push(...fleet.ingressUrls.map((url) => new LoadClient(url, { tokens: LONG })));
    await spread(clients, 12, 1_500);

    const pids: Record<Component, number[]> = {
      ingress: fleet.pidsOf('ingress'),
      dispatcher: fleet.pidsOf('dispatcher'),
      engine: fleet.pidsOf('sim'),
      redis: redis.pids(),
    };
    const components = Object.keys(pids) as Component[];
    const runs: Array<CapacityRun & { requests: number; events: number; cpu: Record<Component, number> }> = [];
    for (const tokens of [SHORT, LONG]) {
      await configureEngines(fleet.engineUrls, { tokens });
      const before = Object.fromEntries(components.map((k) => [k, cpuOf(pids[k])])) as Record<Component, number>;
      const startedAt = performance.now();
      const timings = await spread(clients, options.streams, options.durationMs);
      const seconds = (performance.now() - startedAt) / 1000;
      const ok = timings.filter((t) => t.ok);
      const events = ok.reduce((n, t) => n + t.events, 0);
      runs.push({
        tokens,
        requestsPerSecond: round(ok.length / seconds, 1),
        eventsPerSecond: Math.round(events / seconds),
        failed: timings.length - ok.length,
        requests: ok.length,
        events,
        cpu: Object.fromEntries(components.map((k) => [k, cpuOf(pids[k]) - before[k]])) as Record<Component, number>,
      });
    }
    const [a, b] = runs as [(typeof runs)[0], (typeof runs)[0]];
    // cpu = perRequest × requests + perEvent × events, solved for the two runs.
    const det = a.requests * b.events - b.requests * a.events;
    const cpuUs = Object.fromEntries(
      components.map((k) => [
        k,
        {
          perRequest: round(((a.cpu[k] * b.events - b.cpu[k] * a.events) / det) * 1e6, 1),
          perEvent: round(((a.requests * b.cpu[k] - b.requests * a.cpu[k]) / det) * 1e6, 1),
        },
      ]),
    ) as ClusterRow['cpuUs'];

    await configureEngines(fleet.engineUrls, REALISTIC);
    const addedTtftMs = [];
    for (const streams of options.ttftLoads) {
      const d = await direct.closedLoop(streams, options.durationMs);
      const r = await clients[0]!.closedLoop(streams, options.durationMs);
      const dt = summarize(d.filter((t) => t.ok).map((t) => t.ttft));
      const rt = summarize(r.filter((t) => t.ok).map((t) => t.ttft));
      addedTtftMs.push({ streams, p50: round(rt.p50 - dt.p50), p99: round(rt.p99 - dt.p99), failed: r.length - r.filter((t) => t.ok).length });
    }
    return {
      redis: redis.name,
      streams: options.streams,
      capacity: runs.map(({ tokens, requestsPerSecond, eventsPerSecond, failed }) => ({ tokens, requestsPerSecond, eventsPerSecond, failed })),
      cpuUs,
      addedTtftMs,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await fleet?.stop();
    await redis.stop();
  }
}

export async function clusterScenario(options: { streams: number; durationMs: number; ttftLoads: readonly number[] }): Promise<ClusterRow[]> {
  const sims: ServiceProcess[] = [];
  const [directUrl] = await startSims([{ ...FAST, ...REALISTIC }], sims);
  const direct = new LoadClient(directUrl!, { tokens: REALISTIC.tokens });
  try {
    await direct.closedLoop(4, 1_000);
    return [await measure(await singleRedis(), direct, options), await measure(await clusterRedis(), direct, options)];
  } finally {
    await direct.close();
    await Promise.all(sims.map((s) => s.stop('SIGTERM', 5_000)));
  }
}

export function clusterSection(rows: readonly ClusterRow[]): string[] {
  const loads = rows[0]?.addedTtftMs.map((t) => t.streams) ?? [];
  const cpu = (r: ClusterRow, f: 'perRequest' | 'perEvent') => `${r.cpuUs.ingress[f]} / ${r.cpuUs.dispatcher[f]} / ${r.cpuUs.redis[f]}`;
  const lines = [
    '## Redis Cluster next to one Redis (same fleet, same run)',
    '',
    `Three simulated engines, each serving its own model (queues on three different Cluster masters), a dispatcher each, three ingress nodes. Capacity: ${rows[0]?.streams ?? 0} closed-loop streams over the three ingresses against engines that answer at once, with ${SHORT}- and with ${LONG}-token responses, so the relay is the bottleneck. CPU in µs, summed over all processes of a kind (Redis: every node, replicas included), fitted as per request + per SSE event to the two runs. Added TTFT: the engines reconfigured to ${REALISTIC.ttftMs} ms to first token and ${REALISTIC.tokens} tokens at ${REALISTIC.itlMs} ms, through one ingress, minus the same engine served directly. Everything shares this machine's cores, so absolute rates are this box's, not a server's.`,
    '',
    `| Redis | **SSE events/s** (${LONG} tokens) | requests/s (${SHORT} tokens) | failed | CPU per request: ingress / dispatcher / Redis | CPU per event: ingress / dispatcher / Redis | ${loads.map((n) => `added TTFT p50 / p99, ${n} stream${n > 1 ? 's' : ''}`).join(' | ')} |`,
    `|---|---|---|---|---|---|${loads.map(() => '---|').join('')}`,
  ];
  for (const r of rows) {
    const [short, long] = r.capacity;
    lines.push(
      `| ${r.redis} | **${long?.eventsPerSecond}** | ${short?.requestsPerSecond} | ${r.capacity.reduce((n, c) => n + c.failed, 0)} | ${cpu(r, 'perRequest')} | ${cpu(r, 'perEvent')} | ${r.addedTtftMs.map((t) => `**${t.p50}** / ${t.p99}${t.failed ? ` (${t.failed} failed)` : ''}`).join(' | ')} |`,
    );
  }
  return [...lines, ''];
}
