import type { DispatcherConfig, Logger } from '@infergate/shared';
import { createAdapter, detectEngineKind, EngineClient, type EngineAdapter, type EngineKind } from './engines/index.js';

const PROBE_TIMEOUT_MS = 2_000;

export interface ConnectedEngine {
  readonly engine: EngineClient;
  readonly kind: EngineKind;
  readonly adapter: EngineAdapter;
}

/** The engine client and the adapter of its kind; with ENGINE_KIND=auto, waits until the engine tells its kind. */
export async function connectEngine(config: DispatcherConfig, logger: Logger): Promise<ConnectedEngine> {
  const engine = new EngineClient(config.ENGINE_URL, config.ENGINE_API_KEY ? { authorization: `Bearer ${config.ENGINE_API_KEY}` } : {});
  const kind = await resolveKind(config.ENGINE_KIND, engine, logger);
  if (kind === 'vllm' && config.ENGINE_SLOTS === undefined) {
    throw new Error('ENGINE_SLOTS: is required for vLLM engines (vLLM does not expose max_num_seqs)');
  }
  const adapter = createAdapter(kind, engine, {
    ...(config.ENGINE_SLOTS === undefined ? {} : { slots: config.ENGINE_SLOTS }),
    probeTimeoutMs: PROBE_TIMEOUT_MS,
    kvMaxUsage: config.KV_CACHE_MAX_USAGE,
  });
  return { engine, kind, adapter };
}

async function resolveKind(configured: 'auto' | EngineKind, engine: EngineClient, log: Logger): Promise<EngineKind> {
  if (configured !== 'auto') return configured;
  for (let attempt = 0; ; attempt++) {
    const kind = await detectEngineKind(engine, PROBE_TIMEOUT_MS);
    if (kind) return kind;
    if (attempt % 10 === 0) log.info({ engine: engine.origin }, 'waiting for the engine to identify itself (ENGINE_KIND=auto)');
    await new Promise((r) => setTimeout(r, 500));
  }
}
