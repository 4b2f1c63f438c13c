import { Counter, type Registry } from 'prom-client';
import type { TokenUsage } from '@infergate/shared';

/**
 * Prometheus counters of the tokens answered, by model and kind (prompt,
 * cached_prompt, completion). The key is a label only when the operator
 * asks for it (USAGE_METRICS_BY_KEY): every key multiplies the series by
 * models × kinds, which a fleet with thousands of keys or JWT tenants
 * cannot afford; the per-key figures are in the usage records instead.
 */
export class TokenMetrics {
  private readonly tokens: Counter<'model' | 'kind' | 'key'>;
  private readonly estimated: Counter<'model'>;

  constructor(
    registry: Registry,
    private readonly byKey: boolean,
  ) {
    this.tokens = new Counter({
      name: 'infergate_tokens_total',
      help: 'Tokens of finished requests as their engines reported them, by model and kind (prompt includes cached_prompt).',
      labelNames: byKey ? (['model', 'kind', 'key'] as const) : (['model', 'kind'] as const),
      registers: [registry],
    });
    this.estimated = new Counter({
      name: 'infergate_token_estimates_total',
      help: 'Finished requests whose engine reported no usage: their completion tokens were counted from stream events.',
      labelNames: ['model'] as const,
      registers: [registry],
    });
  }

  count(model: string, usage: TokenUsage, key: string | undefined): void {
    const labels = this.byKey ? { model, key: key ?? '' } : { model };
    if (usage.prompt_tokens > 0) this.tokens.inc({ ...labels, kind: 'prompt' }, usage.prompt_tokens);
    if (usage.cached_prompt_tokens > 0) this.tokens.inc({ ...labels, kind: 'cached_prompt' }, usage.cached_prompt_tokens);
    if (usage.completion_tokens > 0) this.tokens.inc({ ...labels, kind: 'completion' }, usage.completion_tokens);
    if (usage.estimated) this.estimated.inc({ model });
  }
}
