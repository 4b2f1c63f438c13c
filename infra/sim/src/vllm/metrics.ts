/*
 * vLLM's /metrics through prometheus_client: V1 engine families labelled
 * with engine and model_name. Running and waiting come from the slot pool;
 * KV usage grows with running requests unless pinned by `kvUsage`.
 */
import type { SimEnv } from '../env.js';
import type { Reply } from '../http.js';
import { promCounter, promGauge } from '../metrics-text.js';
import { BLOCK_SIZE, kvCacheBlocks, kvCacheTokens } from './kv-size.js';

function kvUsage(env: SimEnv): number {
  const { kvUsage: pinned, kvPerRequest } = env.config;
  return pinned ?? Math.min(1, env.pool.busy * kvPerRequest);
}

/** CacheConfig as `vllm:cache_config_info` labels. */
function cacheConfig(env: SimEnv): Record<string, string> {
  const sizeTokens = kvCacheTokens(env.config, env.pool.size);
  return {
    block_size: String(BLOCK_SIZE),
    cache_dtype: 'auto',
    enable_prefix_caching: env.config.prefixCaching ? 'True' : 'False',
    engine: '0',
    gpu_memory_utilization: '0.9',
    kv_cache_max_concurrency: String(sizeTokens / env.config.nCtx),
    kv_cache_size_tokens: String(sizeTokens),
    num_gpu_blocks: String(kvCacheBlocks(sizeTokens)),
  };
}

export function vllmMetrics(env: SimEnv): Reply {
  const labels = { engine: '0', model_name: env.config.modelId };
  const created = env.startedAtMs / 1000;
  const t = env.totals;
  const body =
    promGauge('vllm:num_requests_running', 'Number of requests in model execution batches.', labels, env.pool.busy) +
    promGauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', labels, env.pool.waiting) +
    promGauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', labels, kvUsage(env)) +
    promCounter('vllm:prefix_cache_queries', 'Prefix cache queries, in terms of number of queried tokens.', labels, t.promptTokens, created) +
    promCounter('vllm:prefix_cache_hits', 'Prefix cache hits, in terms of number of cached tokens.', labels, t.cachedTokens, created) +
    promCounter('vllm:num_preemptions', 'Cumulative number of preemption from the engine.', labels, env.config.preemptions, created) +
    promCounter('vllm:prompt_tokens', 'Number of prefill tokens processed.', labels, t.promptTokens, created) +
    promCounter('vllm:prompt_tokens_cached', 'Number of cached prompt tokens (local + external).', labels, t.cachedTokens, created) +
    promCounter('vllm:generation_tokens', 'Number of generation tokens processed.', labels, t.predictedTokens, created) +
    promGauge('vllm:cache_config_info', 'Information of the LLMEngine CacheConfig', cacheConfig(env), 1);
  return {
    status: 200,
    headers: ['content-length', String(Buffer.byteLength(body)), 'content-type', 'text/plain; version=0.0.4; charset=utf-8'],
    body,
  };
}
