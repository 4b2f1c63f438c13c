import { LoadClient, type StreamTiming } from '../lib/loadgen.js';
import { startFleet, startSims, type EngineSpec } from '../lib/fleet.js';
import { round, summarize } from '../lib/stats.js';
import type { ServiceProcess } from '@infergate/stack';

/*
 * Added latency: the same streams sent straight to a simulated engine and
 * through infergate (ingress → Redis → dispatcher → engine), in one run.
 * The direct baseline gets its own identical engine: load sent straight to
 * the dispatcher's engine would count as outside load and close its gate.
 */

export interface OverheadRow {
  readonly load: string;
  readonly requests: { direct: number; infergate: number };
  readonly failed: { direct: number; infergate: number };
  readonly ttftMs: { direct: { p50: number; p99: number }; infergate: { p50: number; p99: number }; added: { p50: number; p99: number } };
  readonly itlMs: { direct: { p50: number }; infergate: { p50: number }; added: { p50: number } };
}

const ENGINE: EngineSpec = { slots: 256, ttftMs: 20, itlMs: 5, tokens: 32 };

function row(load: string, direct: StreamTiming[], relay: StreamTiming[]): OverheadRow {
  const okD = direct.filter((t) => t.ok);
  const okR = relay.filter((t) => t.ok);
  const d = summarize(okD.map((t) => t.ttft));
  const r = summarize(okR.map((t) => t.ttft));
  const di = summarize(okD.map((t) => t.itl));
  const ri = summarize(okR.map((t) => t.itl));
  return {
    load,
    requests: { direct: direct.length, infergate: relay.length },
    failed: { direct: direct.length - okD.length, infergate: relay.length - okR.length },
    ttftMs: {
      direct: { p50: round(d.p50), p99: round(d.p99) },
      infergate: { p50: round(r.p50), p99: round(r.p99) },
      added: { p50: round(r.p50 - d.p50), p99: round(r.p99 - d.p99) },
    },
    itlMs: { direct: { p50: round(di.p50) }, infergate: { p50: round(ri.p50) }, added: { p50: round(ri.p50 - di.p50) } },
  };
}

export async function overheadScenario(options: { durationMs: number; closedLoop: number[]; openLoop: number[] }): Promise<OverheadRow[]> {
  const sims: ServiceProcess[] = [];
  const [directUrl, relayedUrl] = await startSims([ENGINE, ENGINE], sims);
  const fleet = await startFleet({ engines: [], engineUrls: [relayedUrl!], env: { ENGINE_SLOTS: String(ENGINE.slots) } });
  const direct = new LoadClient(directUrl!, { tokens: ENGINE.tokens });
  const relay = new LoadClient(fleet.ingressUrls[0]!, { tokens: ENGINE.tokens });
  const rows: OverheadRow[] = [];
  try {
    // Warm both paths: connection pools, JIT, Lua script cache.
    await direct.closedLoop(4, 1_000);
    await relay.closedLoop(4, 1_000);
    for (const c of options.closedLoop) {
      const d = await direct.closedLoop(c, options.durationMs);
      const r = await relay.closedLoop(c, options.durationMs);
      rows.push(row(`${c} streams (closed loop)`, d, r));
    }
    for (const rate of options.openLoop) {
      const d = await direct.openLoop(rate, options.durationMs);
      const r = await relay.openLoop(rate, options.durationMs);
      rows.push(row(`${rate} req/s (Poisson)`, d, r));
    }
  } finally {
    await direct.close();
    await relay.close();
    await fleet.stop();
    await Promise.all(sims.map((s) => s.stop('SIGTERM', 5_000)));
  }
  return rows;
}
