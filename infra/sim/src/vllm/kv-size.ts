/* The simulated KV cache's size, which vLLM's cache_config_info reports and its prefix cache fills. */
import type { SimulatorConfig } from '../config.js';

export const BLOCK_SIZE = 16;

/** Sized so each request of max_model_len uses `kvPerRequest` of the cache. */
export function kvCacheTokens(config: Pick<SimulatorConfig, 'nCtx' | 'kvPerRequest'>, slots: number): number {
  const { nCtx, kvPerRequest } = config;
  return kvPerRequest > 0 ? Math.round(nCtx / kvPerRequest) : nCtx * slots;
}

export const kvCacheBlocks = (tokens: number): number => Math.ceil(tokens / BLOCK_SIZE);
