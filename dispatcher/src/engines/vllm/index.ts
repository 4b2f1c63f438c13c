import type { EngineClient } from '../engineClient.js';
import { maxOf, parsePrometheusText, sumOf } from '../prometheusText.js';
import type { EngineAdapter, EngineSnapshot } from '../types.js';

/**
 * vLLM's OpenAI server: connection refused until the model is loaded, then
 * `/health` 200. Load comes from `/metrics`; `max_num_seqs` is not exposed,
 * so the slot count is configuration.
 */
export function vllmAdapter(
  client: EngineClient,
  options: { slots?: number; probeTimeoutMs: number; kvMaxUsage: number },
): EngineAdapter {
  const timeout = options.probeTimeoutMs;
  return {
    kind: 'vllm',
    async snapshot(): Promise<EngineSnapshot> {
      const health = await client.get('/health', timeout);
      if (health.status !== 200) {
        return { ready: false, totalSlots: options.slots, busy: 0, waiting: 0, problem: `health ${health.status}` };
      }
      const metrics = parsePrometheusText((await client.get('/metrics', timeout)).body);
      // Each data-parallel rank has its own cache; the fullest one decides.
      const kvUsage = maxOf(metrics, 'vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc');
      const preemptions = sumOf(metrics, 'vllm:num_preemptions_total', 'vllm:num_preemptions');
      const queries = sumOf(metrics, 'vllm:prefix_cache_queries_total', 'vllm:prefix_cache_queries');
      const hits = sumOf(metrics, 'vllm:prefix_cache_hits_total', 'vllm:prefix_cache_hits');
      return {
        ready: true,
        totalSlots: options.slots,
        busy: sumOf(metrics, 'vllm:num_requests_running') ?? 0,
        // V0 (≤ 0.8) parks preempted requests as swapped; they resume before new ones start.
        waiting: (sumOf(metrics, 'vllm:num_requests_waiting') ?? 0) + (sumOf(metrics, 'vllm:num_requests_swapped') ?? 0),
        ...(kvUsage === undefined ? {} : { kvUsage }),
        ...(preemptions === undefined ? {} : { preemptions }),
        ...(queries === undefined || hits === undefined ? {} : { prefixCache: { queries, hits } }),
      };
    },
    async models(): Promise<string[]> {
      const res = await client.getJson('/v1/models', timeout);
      const data = (res.body as { data?: Array<{ id?: unknown }> } | undefined)?.data ?? [];
      return data.flatMap((card) => (typeof card.id === 'string' ? [card.id] : []));
    },
    pressure(current, previous) {
      if (current.kvUsage !== undefined && current.kvUsage >= options.kvMaxUsage) {
        return `kv cache ${(current.kvUsage * 100).toFixed(0)}% ≥ ${(options.kvMaxUsage * 100).toFixed(0)}%`;
      }
      // Preemptions mean the engine already runs more than its KV cache
      // holds; pulling more would only make it recompute.
      if (current.preemptions !== undefined && previous?.preemptions !== undefined && current.preemptions > previous.preemptions) {
        return 'preemptions rising';
      }
      return undefined;
    },
  };
}
