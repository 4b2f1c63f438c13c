/*
 * llama-server's sampling parameter dumps, in the key order of the captures.
 * /props and /slots use the short form; a native completion's
 * `generation_settings` adds the stop, grammar and logit-bias fields.
 */

export const BUILD_INFO = 'b10470-34af94cd9';

export const CHAT_TEMPLATE =
  "{%- for message in messages -%}\n  {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n  {{- '<|im_start|>assistant\n' -}}\n{%- endif -%}";

export interface SamplingRequest {
  readonly temperature: number;
  /** -1 when unbounded. */
  readonly nPredict: number;
  readonly stream: boolean;
}

/** Samplers keep parameters as C floats; this is how such a float prints as a double. */
const f32 = (x: number): number => Math.fround(x);

export function samplingParams(r: SamplingRequest, full: boolean): Record<string, unknown> {
  return {
    seed: 4294967295,
    temperature: f32(r.temperature),
    dynatemp_range: 0,
    dynatemp_exponent: 1,
    top_k: 40,
    top_p: f32(0.95),
    min_p: f32(0.05),
    top_n_sigma: -1,
    xtc_probability: 0,
    xtc_threshold: f32(0.1),
    typical_p: 1,
    repeat_last_n: 64,
    repeat_penalty: 1,
    presence_penalty: 0,
    frequency_penalty: 0,
    dry_multiplier: 0,
    dry_base: 1.75,
    dry_allowed_length: 2,
    dry_penalty_last_n: 64,
    ...(full && { dry_sequence_breakers: ['\n', ':', '"', '*'] }),
    mirostat: 0,
    mirostat_tau: 5,
    mirostat_eta: f32(0.1),
    adaptive_target: -1,
    adaptive_decay: f32(0.9),
    ...(full && { stop: [] }),
    max_tokens: r.nPredict,
    n_predict: r.nPredict,
    n_keep: 0,
    n_discard: 0,
    ignore_eos: false,
    stream: r.stream,
    ...(full && { logit_bias: [] }),
    n_probs: 0,
    min_keep: 0,
    ...(full && { grammar: '', grammar_lazy: false, grammar_triggers: [], preserved_tokens: [] }),
    chat_format: 'Content-only',
    reasoning_format: full ? 'deepseek' : 'none',
    reasoning_in_content: false,
    generation_prompt: '',
    samplers: ['penalties', 'dry', 'top_n_sigma', 'top_k', 'typ_p', 'top_p', 'min_p', 'xtc', 'temperature'],
    'speculative.types': 'none',
    timings_per_token: false,
    post_sampling_probs: false,
    backend_sampling: false,
    lora: [],
  };
}
