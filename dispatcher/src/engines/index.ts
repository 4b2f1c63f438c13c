import { EngineClient } from './engineClient.js';
import { llamacppAdapter } from './llamacpp/index.js';
import type { EngineAdapter, EngineKind } from './types.js';
import { vllmAdapter } from './vllm/index.js';

export type { EngineAdapter, EngineKind, EngineSnapshot } from './types.js';
export { EngineClient, isConnectionFailure } from './engineClient.js';

export interface AdapterOptions {
  readonly slots?: number;
  readonly probeTimeoutMs: number;
  readonly kvMaxUsage: number;
}

/** One entry per engine kind; a new kind is one new folder plus one line here. */
const adapters: Record<EngineKind, (client: EngineClient, options: AdapterOptions) => EngineAdapter> = {
  llamacpp: llamacppAdapter,
  vllm: vllmAdapter,
};

/**
 * Which kind of engine answers at the client's URL: llama.cpp has `/props`
 * with `total_slots`; vLLM's model cards say `owned_by: vllm`. Undefined
 * while the engine cannot tell (still loading, not listening).
 */
export async function detectEngineKind(client: EngineClient, timeoutMs: number): Promise<EngineKind | undefined> {
  try {
    const props = await client.getJson('/props', timeoutMs);
    if (typeof (props.body as { total_slots?: unknown } | undefined)?.total_slots === 'number') return 'llamacpp';
    if (props.status === 503) return undefined;
    const models = await client.getJson('/v1/models', timeoutMs);
    const cards = (models.body as { data?: Array<{ owned_by?: unknown }> } | undefined)?.data ?? [];
    if (cards.some((c) => c.owned_by === 'vllm')) return 'vllm';
    if (cards.some((c) => c.owned_by === 'llamacpp')) return 'llamacpp';
  } catch {
    // An engine that does not answer yet is not identified yet; the caller asks again and says it waits.
    return undefined;
  }
  return undefined;
}

/** The engine kind's adapter, its snapshots telling which of the load is ours (see {@link EngineClient.measure}). */
export function createAdapter(kind: EngineKind, client: EngineClient, options: AdapterOptions): EngineAdapter {
  const adapter = adapters[kind](client, options);
  return {
    ...adapter,
    async snapshot() {
      const { reading, sure, unsure } = await client.measure(() => adapter.snapshot());
      return { ...reading, ours: { sure, unsure } };
    },
  };
}
