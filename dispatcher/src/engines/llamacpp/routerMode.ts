import type { EngineClient } from '../engineClient.js';
import type { EngineSnapshot, ModelReading } from '../types.js';

interface RouterCard {
  readonly id?: unknown;
  readonly aliases?: unknown;
  readonly status?: { readonly value?: unknown; readonly failed?: unknown };
}

interface Slot {
  readonly is_processing?: boolean;
}

/** `GET /props` of a llama-server started without `-m`: the router's own, with no slots of its own. */
export function isRouterProps(body: unknown): boolean {
  return (body as { role?: unknown } | undefined)?.role === 'router';
}

function statusOf(card: RouterCard): ModelReading['status'] {
  if (card.status?.failed === true) return 'failed';
  const value = card.status?.value;
  return value === 'loaded' || value === 'loading' ? value : 'unloaded';
}

/**
 * A llama.cpp router's state: healthy with no model loaded (its `/health`
 * is the router's), slots per loaded model from that model's
 * `/slots?model=`. Probes say `autoload=false`, since a proxied GET loads
 * an unloaded model otherwise. Before a model has loaded its slot count
 * cannot be known (the child that would report it does not exist yet).
 */
export async function readRouter(client: EngineClient, timeoutMs: number): Promise<EngineSnapshot> {
  const list = await client.getJson('/models', timeoutMs);
  const cards = ((list.body as { data?: unknown } | undefined)?.data ?? []) as RouterCard[];
  const models = new Map<string, ModelReading>();
  await Promise.all(
    (Array.isArray(cards) ? cards : []).map(async (card) => {
      if (typeof card.id !== 'string') return;
      const status = statusOf(card);
      let reading: ModelReading = { id: card.id, status, totalSlots: undefined, busy: 0 };
      if (status === 'loaded') {
        const slots = await client.getJson(`/slots?model=${encodeURIComponent(card.id)}&autoload=false`, timeoutMs);
        // Unloaded between the two reads (idle unload, `/models/unload`): it counts as unloaded until the next poll.
        if (Array.isArray(slots.body)) {
          const list = slots.body as Slot[];
          reading = { ...reading, totalSlots: list.length, busy: list.filter((s) => s.is_processing === true).length };
        } else {
          reading = { ...reading, status: 'unloaded' };
        }
      }
      models.set(card.id, reading);
      if (Array.isArray(card.aliases)) for (const a of card.aliases) if (typeof a === 'string') models.set(a, reading);
    }),
  );
  const distinct = new Set(models.values());
  let total = 0;
  let busy = 0;
  for (const m of distinct) {
    // An unloaded model counts one slot: the request that makes the router load it.
    total += m.status === 'failed' ? 0 : (m.totalSlots ?? 1);
    busy += m.busy;
  }
  return { ready: true, totalSlots: total, busy, waiting: 0, models };
}
