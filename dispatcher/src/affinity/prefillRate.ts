import type { CacheFigures } from './engineCacheFigures.js';

/**
 * Below this many evaluated tokens an answer says little about the
 * engine's prefill speed: its `prompt_ms` is mostly the fixed cost of a
 * batch (and, on llama.cpp, the first sampled token), not per-token work.
 */
const MIN_EVALUATED = 32;

/** Weight an older answer keeps at each new one: the last ~5 large prefills decide. */
const DECAY = 0.7;

/**
 * The engine's prefill cost per prompt token, from its own timings on
 * recent answers, token-weighted (a long prefill counts for more than a
 * short one, as it does in what a cache hit saves). The ingress weighs it
 * against the wait for a busy warm engine (docs/design.md, "Cache
 * affinity"). Unknown until the engine reports timings: vLLM's answers do
 * not carry them.
 */
export class PrefillRate {
  private ms = 0;
  private tokens = 0;

  observe(figures: CacheFigures): void {
    if (figures.promptMs === undefined || figures.evaluated < MIN_EVALUATED) return;
    this.ms = this.ms * DECAY + figures.promptMs;
    this.tokens = this.tokens * DECAY + figures.evaluated;
  }

  /** Milliseconds per evaluated prompt token; undefined before the first qualifying answer. */
  get msPerToken(): number | undefined {
    return this.tokens === 0 ? undefined : this.ms / this.tokens;
  }
}
