import { Counter, type Registry } from 'prom-client';
import type { CacheFigures } from './engineCacheFigures.js';

/** Cache-affinity series of a dispatcher (docs/metrics.md), on its registry. */
export class LaneMetrics {
  private readonly pulls: Counter<'model' | 'queue'>;
  private readonly moves: Counter<'model' | 'reason'>;
  private readonly promptTokens: Counter<'model' | 'cache'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.pulls = new Counter({
      name: 'infergate_dispatcher_affinity_pulls_total',
      help: 'Jobs this dispatcher took, by queue: lane (its own, placed for its cache) or shared.',
      labelNames: ['model', 'queue'] as const,
      registers,
    });
    this.moves = new Counter({
      name: 'infergate_dispatcher_lane_moves_total',
      help: 'Lane jobs this dispatcher moved to the shared queue: adopted (a dead peer\'s lane), drain (its own, when stopping), retry (its engine failed before answering).',
      labelNames: ['model', 'reason'] as const,
      registers,
    });
    this.promptTokens = new Counter({
      name: 'infergate_engine_prompt_tokens_total',
      help: 'Prompt tokens of answered requests as the engine reports them: cache hit (reused; llama.cpp timings.cache_n, vLLM cached_tokens) or miss (evaluated).',
      labelNames: ['model', 'cache'] as const,
      registers,
    });
  }

  pulled(model: string, fromLane: boolean): void {
    this.pulls.inc({ model, queue: fromLane ? 'lane' : 'shared' });
  }

  moved(model: string, reason: 'adopted' | 'drain' | 'retry', n: number): void {
    if (n > 0) this.moves.inc({ model, reason }, n);
  }

  engineCache(model: string, figures: CacheFigures): void {
    this.promptTokens.inc({ model, cache: 'hit' }, figures.cached);
    this.promptTokens.inc({ model, cache: 'miss' }, figures.evaluated);
  }
}
