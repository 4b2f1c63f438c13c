import { createServer } from 'node:http';
import type { ServiceProcess } from '@infergate/stack';
import { armFigures, type ArmFigures } from '../lib/arms.js';
import { measure } from '../lib/cpu.js';
import { startFleet, startSims, stopServices, type Fleet } from '../lib/fleet.js';
import { LoadClient, type StreamTiming } from '../lib/loadgen.js';
import { table } from '../lib/markdown.js';
import { round } from '../lib/stats.js';
import { OVERHEAD_ENGINE } from './overhead.js';

/*
 * What a feature costs: two identical infergate fleets (ingress, dispatcher,
 * Redis, an engine each) in one run, the feature off in one and on in the
 * other. The same loads go to each in turn; CPU per relayed SSE event and
 * TTFT are compared at the same load. Tracing (every request's spans
 * exported over OTLP/HTTP to a receiver in this process), token
 * accounting (a usage record per request and token limits at admission)
 * and fair queueing (a fair-share ticket before each enqueue) are the
 * features measured this way.
 */

type Side = 'off' | 'on';

export interface FeatureCostRow {
  readonly load: string;
  readonly arms: Record<Side, ArmFigures>;
  readonly addedTtftP50: number;
  readonly addedTtftP99: number;
  /** CPU µs per event, on minus off, by process and total. */
  readonly addedCpuUsPerEvent: Record<string, number>;
}

export interface FeatureCostResult {
  readonly durationMs: number;
  readonly rows: FeatureCostRow[];
  /** Exports the receiver got from the traced fleet, and their bytes (tracing only). */
  readonly exports?: { readonly requests: number; readonly bytes: number };
}

interface Feature {
  /** Environment of both fleets, and what the "on" fleet adds to it. */
  readonly env: Record<string, string>;
  readonly on: Record<string, string>;
  readonly apiKey?: string;
  /** Figures only the feature's own run knows, read once the loads are done. */
  readonly extra?: () => Partial<FeatureCostResult>;
  close?(): Promise<void>;
}

/** An OTLP/HTTP sink that answers every export and counts it. */
async function startSink(): Promise<{ url: string; requests: number; bytes: number; close(): Promise<void> }> {
  const counts = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (counts.bytes += c.length));
    req.on('end', () => {
      counts.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(counts, {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

async function tracing(): Promise<Feature> {
  const sink = await startSink();
  return {
    env: {},
    on: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_on' },
    extra: () => ({ exports: { requests: sink.requests, bytes: sink.bytes } }),
    close: () => sink.close(),
  };
}

const BENCH_KEY = 'bench-key-0123456789abcdef0123';

/**
 * Both fleets authenticate the same key, so only the accounting differs: a
 * usage record per finished request, and admission reading the key's token
 * rate and budgets (limits high enough never to refuse).
 */
function accounting(): Feature {
  return {
    env: {
      API_KEYS: `bench:${BENCH_KEY}`,
      KEY_POLICIES: JSON.stringify({ bench: { tpm: 1_000_000_000, daily_tokens: 1_000_000_000_000, monthly_tokens: 1_000_000_000_000 } }),
      USAGE_ACCOUNTING: 'false',
    },
    on: { USAGE_ACCOUNTING: 'true' },
    apiKey: BENCH_KEY,
  };
}

/** Fair queueing: a ticket from the model's fair-share state before each enqueue, the tenant's charge after. */
function fairShare(): Feature {
  return {
    env: { API_KEYS: `bench:${BENCH_KEY}`, FAIR_SHARE: 'false' },
    on: { FAIR_SHARE: 'true' },
    apiKey: BENCH_KEY,
  };
}

/**
 * Cache affinity as the default turns it on: the dispatcher's lane consumer
 * and index writes, the ingress's key computation. The load's prompts are
 * shorter than one block, so no lookup is made: the cost of a lookup is the
 * affinity scenario's single-turn part.
 */
function affinityCost(): Feature {
  return { env: { AFFINITY_ENABLED: 'false' }, on: { AFFINITY_ENABLED: 'true' } };
}

export const FEATURES = { tracing, accounting, fairShare, affinityCost } as const;
export type FeatureName = keyof typeof FEATURES;

function pidsOf(fleet: Fleet): Record<string, number> {
  return { ingress: fleet.pidsOf('ingress')[0]!, dispatcher: fleet.pidsOf('dispatcher')[0]!, ...(fleet.redisPid ? { redis: fleet.redisPid } : {}) };
}

export async function featureCostScenario(name: FeatureName, options: { durationMs: number; closedLoop: number[]; openLoop: number[] }): Promise<FeatureCostResult> {
  const feature = await FEATURES[name]();
  const sims: ServiceProcess[] = [];
  const fleets: Fleet[] = [];
  const clients: LoadClient[] = [];
  try {
    const urls = await startSims([OVERHEAD_ENGINE, OVERHEAD_ENGINE], sims);
    const env = { ENGINE_SLOTS: String(OVERHEAD_ENGINE.slots), ...feature.env };
    for (const [i, extra] of [env, { ...env, ...feature.on }].entries()) fleets.push(await startFleet({ engines: [], engineUrls: [urls[i]!], env: extra }));
    const sides = (['off', 'on'] as const).map((side, i) => {
      const client = new LoadClient(fleets[i]!.ingressUrls[0]!, { tokens: OVERHEAD_ENGINE.tokens, ...(feature.apiKey ? { apiKey: feature.apiKey } : {}) });
      clients.push(client);
      return { side, client, pids: pidsOf(fleets[i]!) };
    });
    const run = async (load: (c: LoadClient) => Promise<StreamTiming[]>) => {
      const out = {} as Record<Side, ArmFigures>;
      for (const s of sides) out[s.side] = armFigures(await measure(s.pids, () => load(s.client)));
      return out;
    };
    // Warm both fleets' per-request paths (and the feature's own) before measuring.
    await run((c) => c.closedLoop(32, 3_000));
    const points = [
      ...options.closedLoop.map((n) => ({ load: `${n} streams (closed loop)`, go: (c: LoadClient) => c.closedLoop(n, options.durationMs) })),
      ...options.openLoop.map((r) => ({ load: `${r} req/s (Poisson)`, go: (c: LoadClient) => c.openLoop(r, options.durationMs) })),
    ];
    const rows: FeatureCostRow[] = [];
    for (const p of points) {
      const arms = await run(p.go);
      const cpuAdded = Object.fromEntries(Object.entries(arms.on.cpuUsPerEvent).map(([k, v]) => [k, round(v - (arms.off.cpuUsPerEvent[k] ?? 0), 1)]));
      rows.push({
        load: p.load,
        arms,
        addedTtftP50: round(arms.on.ttftMs.p50 - arms.off.ttftMs.p50),
        addedTtftP99: round(arms.on.ttftMs.p99 - arms.off.ttftMs.p99),
        addedCpuUsPerEvent: cpuAdded,
      });
    }
    return { durationMs: options.durationMs, rows, ...feature.extra?.() };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const f of fleets) await f.stop();
    await stopServices(sims);
    await feature.close?.();
  }
}

const DESCRIPTIONS: Record<FeatureName, { title: string; sides: string }> = {
  tracing: {
    title: 'Tracing on vs. off (same run)',
    sides: 'one without tracing, one exporting every request (always_on, 5 spans) over OTLP/HTTP protobuf to a receiver in the load generator\'s process',
  },
  fairShare: {
    title: 'Fair queueing on vs. off (same run)',
    sides: 'both authenticating one API key, one with FAIR_SHARE=false, one taking a fair-share ticket (one Redis script) before each enqueue and settling the tenant\'s share after',
  },
  affinityCost: {
    title: 'Cache affinity on vs. off, prompts shorter than a block (same run)',
    sides: 'one with AFFINITY_ENABLED=false, one with it on (a lane per model on the dispatcher, affinity keys computed per request; the prompts are too short for a lookup)',
  },
  accounting: {
    title: 'Token accounting on vs. off (same run)',
    sides: 'both authenticating one API key, one with USAGE_ACCOUNTING=false, one recording every request\'s usage and checking the key\'s tpm, daily and monthly limits (set too high to refuse) at admission',
  },
};

export function featureCostSection(name: FeatureName): (r: FeatureCostResult) => string[] {
  return (r) => {
    const e = OVERHEAD_ENGINE;
    const cpu = (f: ArmFigures) => `${f.cpuUsPerEvent.ingress} / ${f.cpuUsPerEvent.dispatcher} / ${f.cpuUsPerEvent.total}`;
    return [
      `## ${DESCRIPTIONS[name].title}`,
      '',
      `Two identical infergate fleets (ingress, dispatcher, Redis; a simulated llama.cpp engine each: ${e.ttftMs} ms to first token, ${e.tokens} tokens at ${e.itlMs} ms, ${e.slots} slots), ${DESCRIPTIONS[name].sides}. ${r.durationMs / 1000} s per fleet and load, after 3 s of 32 streams each. CPU = µs of CPU per SSE event the client received, ingress / dispatcher / total (Redis included in total); added = on minus off.`,
      '',
      ...table(
        ['load', 'requests (off / on)', 'TTFT p50 off / on', 'added p50', 'TTFT p99 off / on', 'added p99', 'CPU µs/event off', 'CPU µs/event on', 'added CPU µs/event (total)', 'failed'],
        r.rows.map((row) => [
          row.load,
          `${row.arms.off.requests} / ${row.arms.on.requests}`,
          `${row.arms.off.ttftMs.p50} / ${row.arms.on.ttftMs.p50}`,
          `**${row.addedTtftP50}**`,
          `${row.arms.off.ttftMs.p99} / ${row.arms.on.ttftMs.p99}`,
          row.addedTtftP99,
          cpu(row.arms.off),
          cpu(row.arms.on),
          `**${row.addedCpuUsPerEvent.total}**`,
          `${row.arms.off.failed} / ${row.arms.on.failed}`,
        ]),
      ),
      '',
      ...(r.exports ? [`The traced fleet sent ${r.exports.requests} exports (${Math.round(r.exports.bytes / 1024)} KiB).`, ''] : []),
    ];
  };
}
