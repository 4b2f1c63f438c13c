/*
 * llama-server's /metrics (with `--metrics`): the families, HELP texts and
 * order of the captures. The two throughput gauges cover only the window
 * since the previous scrape, as in the engine.
 */
import type { SimEnv } from '../env.js';
import type { Reply } from '../http.js';
import { llamaFamily } from '../metrics-text.js';
import { unixSeconds } from '../ids.js';
import { reply } from './http.js';

const rate = (tokens: number, seconds: number): number => (seconds > 0 ? tokens / seconds : 0);

export class LlamaMetrics {
  private last = { promptTokens: 0, promptSeconds: 0, predictedTokens: 0, predictedSeconds: 0 };

  render(env: SimEnv): Reply {
    const t = env.totals;
    const window = {
      prompt: rate(t.promptTokens - t.cachedTokens - this.last.promptTokens, t.promptSeconds - this.last.promptSeconds),
      predicted: rate(t.predictedTokens - this.last.predictedTokens, t.predictedSeconds - this.last.predictedSeconds),
    };
    const processed = t.promptTokens - t.cachedTokens;
    this.last = { promptTokens: processed, promptSeconds: t.promptSeconds, predictedTokens: t.predictedTokens, predictedSeconds: t.predictedSeconds };
    const text =
      llamaFamily('llamacpp:prompt_tokens_total', 'Number of prompt tokens processed, excluding cached tokens', 'counter', processed) +
      llamaFamily('llamacpp:prompt_tokens_cached_total', 'Number of prompt tokens reused from the cache', 'counter', t.cachedTokens) +
      llamaFamily('llamacpp:prompt_seconds_total', 'Total time spent processing prompts', 'counter', t.promptSeconds) +
      llamaFamily('llamacpp:tokens_predicted_total', 'Number of generation tokens processed', 'counter', t.predictedTokens) +
      llamaFamily('llamacpp:tokens_predicted_seconds_total', 'Total time spent generating tokens', 'counter', t.predictedSeconds) +
      llamaFamily(
        'llamacpp:n_decode_total',
        'Total number of llama_decode() calls, excluding speculative decoding and multimodal decoding',
        'counter',
        t.predictedTokens,
      ) +
      llamaFamily('llamacpp:n_tokens_max', 'Largest observed sequence length (prompt + generation)', 'counter', t.maxSequence) +
      llamaFamily('llamacpp:spec_decode_num_draft_tokens_total', 'Speculative: Total draft tokens generated', 'counter', 0) +
      llamaFamily('llamacpp:spec_decode_num_accepted_tokens_total', 'Speculative: Total draft tokens accepted by the target model', 'counter', 0) +
      llamaFamily('llamacpp:spec_decode_num_drafts_total', 'Speculative: Total speculative decoding verification steps', 'counter', 0) +
      llamaFamily('llamacpp:prompt_tokens_seconds', 'Average prompt throughput in tokens/s', 'gauge', window.prompt) +
      llamaFamily('llamacpp:predicted_tokens_seconds', 'Average generation throughput in tokens/s', 'gauge', window.predicted) +
      llamaFamily('llamacpp:requests_processing', 'Number of requests processing', 'gauge', env.pool.busy) +
      llamaFamily('llamacpp:requests_deferred', 'Number of requests deferred', 'gauge', env.pool.waiting) +
      llamaFamily(
        'llamacpp:n_busy_slots_per_decode',
        'Average number of busy slots per llama_decode() call',
        'gauge',
        t.predictedTokens > 0 ? t.busySlotsAtDecode / t.predictedTokens : 0,
      );
    return reply(200, 'text/plain; version=0.0.4', text, ['Process-Start-Time-Unix', String(unixSeconds(env.startedAtMs))]);
  }
}
