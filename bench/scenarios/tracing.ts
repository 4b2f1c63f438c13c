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
 * What tracing costs: two identical infergate fleets (ingress, dispatcher,
 * Redis, an engine each) in one run, one without OTEL_* settings and one
 * exporting every request's spans over OTLP/HTTP (protobuf, sampled always)
 * to a receiver in this process. The same loads go to each in turn; CPU per
 * relayed SSE event and TTFT are compared at the same load.
 */

type Side = 'off' | 'on';

export interface TracingRow {
  readonly load: string;
  readonly arms: Record<Side, ArmFigures>;
  readonly addedTtftP50: number;
  readonly addedTtftP99: number;
  /** CPU µs per event, on minus off, by process and total. */
  readonly addedCpuUsPerEvent: Record<string, number>;
}

export interface TracingResult {
  readonly durationMs: number;
  readonly rows: TracingRow[];
  /** Exports the receiver got from the traced fleet, and their bytes. */
  readonly exports: { readonly requests: number; readonly bytes: number };
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

function pidsOf(fleet: Fleet): Record<string, number> {
  return { ingress: fleet.pidsOf('ingress')[0]!, dispatcher: fleet.pidsOf('dispatcher')[0]!, ...(fleet.redisPid ? { redis: fleet.redisPid } : {}) };
}

export async function tracingScenario(options: { durationMs: number; closedLoop: number[]; openLoop: number[] }): Promise<TracingResult> {
  const sink = await startSink();
  const sims: ServiceProcess[] = [];
  const fleets: Fleet[] = [];
  const clients: LoadClient[] = [];
  try {
    const urls = await startSims([OVERHEAD_ENGINE, OVERHEAD_ENGINE], sims);
    const env = { ENGINE_SLOTS: String(OVERHEAD_ENGINE.slots) };
    const traced = { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_on' };
    for (const [i, extra] of [env, traced].entries()) fleets.push(await startFleet({ engines: [], engineUrls: [urls[i]!], env: extra }));
    const sides = (['off', 'on'] as const).map((side, i) => {
      const client = new LoadClient(fleets[i]!.ingressUrls[0]!, { tokens: OVERHEAD_ENGINE.tokens });
      clients.push(client);
      return { side, client, pids: pidsOf(fleets[i]!) };
    });
    const run = async (load: (c: LoadClient) => Promise<StreamTiming[]>) => {
      const out = {} as Record<Side, ArmFigures>;
      for (const s of sides) out[s.side] = armFigures(await measure(s.pids, () => load(s.client)));
      return out;
    };
    // Warm both fleets' per-request paths (and the exporter) before measuring.
    await run((c) => c.closedLoop(32, 3_000));
    const points = [
      ...options.closedLoop.map((n) => ({ load: `${n} streams (closed loop)`, go: (c: LoadClient) => c.closedLoop(n, options.durationMs) })),
      ...options.openLoop.map((r) => ({ load: `${r} req/s (Poisson)`, go: (c: LoadClient) => c.openLoop(r, options.durationMs) })),
    ];
    const rows: TracingRow[] = [];
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
    return { durationMs: options.durationMs, rows, exports: { requests: sink.requests, bytes: sink.bytes } };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const f of fleets) await f.stop();
    await stopServices(sims);
    await sink.close();
  }
}

export function tracingSection(r: TracingResult): string[] {
  const e = OVERHEAD_ENGINE;
  const cpu = (f: ArmFigures) => `${f.cpuUsPerEvent.ingress} / ${f.cpuUsPerEvent.dispatcher} / ${f.cpuUsPerEvent.total}`;
  return [
    '## Tracing on vs. off (same run)',
    '',
    `Two identical infergate fleets (ingress, dispatcher, Redis; a simulated llama.cpp engine each: ${e.ttftMs} ms to first token, ${e.tokens} tokens at ${e.itlMs} ms, ${e.slots} slots), one without tracing, one exporting every request (always_on, 5 spans) over OTLP/HTTP protobuf to a receiver in the load generator's process. ${r.durationMs / 1000} s per fleet and load, after 3 s of 32 streams each. CPU = µs of CPU per SSE event the client received, ingress / dispatcher / total (Redis included in total); added = on minus off.`,
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
    `The traced fleet sent ${r.exports.requests} exports (${Math.round(r.exports.bytes / 1024)} KiB).`,
    '',
  ];
}
