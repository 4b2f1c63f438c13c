import type { EngineClient } from '../engineClient.js';
import { parsePrometheusText, sumOf } from '../prometheusText.js';
import type { EngineAdapter, EngineSnapshot } from '../types.js';
import { isRouterProps, readRouter } from './routerMode.js';

interface Slot {
  readonly is_processing?: boolean;
}

/**
 * llama.cpp `llama-server`: `/health` is 503 while loading; slots come from
 * `/props` `total_slots`, busy slots from `/slots` `is_processing`, queued
 * requests from `/metrics` `llamacpp:requests_deferred` (when `--metrics`).
 * A router (`/props` `role: "router"`, no `-m`) is read per model instead
 * (`routerMode.ts`).
 */
export function llamacppAdapter(client: EngineClient, options: { slots?: number; probeTimeoutMs: number }): EngineAdapter {
  let totalSlots = options.slots;
  let metricsAvailable = true;
  const timeout = options.probeTimeoutMs;

  async function readProps(): Promise<{ router: boolean; totalSlots: number | undefined }> {
    const props = await client.getJson('/props', timeout);
    const n = (props.body as { total_slots?: unknown } | undefined)?.total_slots;
    return { router: isRouterProps(props.body), totalSlots: typeof n === 'number' && n > 0 ? n : undefined };
  }

  /** The request gauges of `/metrics`, or undefined when the engine runs without `--metrics`. */
  async function readRequestGauges(): Promise<{ processing: number | undefined; deferred: number } | undefined> {
    if (!metricsAvailable) return undefined;
    const res = await client.get('/metrics', timeout);
    // Without --metrics the engine answers 501; deferral is then invisible
    // and the dispatcher's own count has to do.
    if (res.status === 501 || res.status === 404) {
      metricsAvailable = false;
      return undefined;
    }
    const metrics = parsePrometheusText(res.body);
    return { processing: sumOf(metrics, 'llamacpp:requests_processing'), deferred: sumOf(metrics, 'llamacpp:requests_deferred') ?? 0 };
  }

  return {
    kind: 'llamacpp',
    async snapshot(): Promise<EngineSnapshot> {
      const health = await client.get('/health', timeout);
      if (health.status !== 200) {
        return { ready: false, totalSlots, busy: 0, waiting: 0, problem: health.status === 503 ? 'loading' : `health ${health.status}` };
      }
      // Re-read after every not-ready phase: a restarted engine may run with another -np.
      // ENGINE_SLOTS names the slot count, so /props is not asked: a router is then one pool of that many slots.
      if (options.slots === undefined) {
        const props = await readProps();
        if (props.router) return readRouter(client, timeout);
        totalSlots = props.totalSlots ?? totalSlots;
      }
      const [slots, gauges] = await Promise.all([client.getJson('/slots', timeout), readRequestGauges()]);
      // With --no-slots (501) busy slots still show in the metrics, if those are on.
      const busy = Array.isArray(slots.body) ? (slots.body as Slot[]).filter((s) => s.is_processing === true).length : (gauges?.processing ?? 0);
      return { ready: true, totalSlots, busy, waiting: gauges?.deferred ?? 0 };
    },
    async models(): Promise<string[]> {
      const res = await client.getJson('/v1/models', timeout);
      const data = (res.body as { data?: Array<{ id?: unknown; aliases?: unknown }> } | undefined)?.data ?? [];
      const names = new Set<string>();
      for (const card of data) {
        if (typeof card.id === 'string') names.add(card.id);
        if (Array.isArray(card.aliases)) for (const a of card.aliases) if (typeof a === 'string') names.add(a);
      }
      return [...names];
    },
    pressure: () => undefined,
  };
}
