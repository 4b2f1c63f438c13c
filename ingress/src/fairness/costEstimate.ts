import type { TokenUsage } from '@infergate/shared';

/** Completion tokens assumed for a request that sets no limit; the correction at its end makes up the difference. */
const DEFAULT_COMPLETION_TOKENS = 256;
/** A limit above this (a client's "as long as it takes") says little about the answer; the correction settles it. */
const MAX_COMPLETION_ESTIMATE = 4_096;
const BYTES_PER_TOKEN = 4;

/**
 * What a request will cost its engine, in tokens, before any tokenizer has
 * seen it: its body's bytes / 4 for the prompt (JSON framing included, a
 * small overcount) plus its completion limit, whichever field names it
 * (OpenAI `max_tokens` / `max_completion_tokens` / `max_output_tokens`,
 * llama.cpp `n_predict`).
 */
export function estimatedCost(bodyBytes: number, parsed: object | undefined): number {
  const fields = (parsed ?? {}) as Record<string, unknown>;
  const limit = [fields.max_completion_tokens, fields.max_tokens, fields.max_output_tokens, fields.n_predict].find(
    (v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0,
  );
  return Math.ceil(bodyBytes / BYTES_PER_TOKEN) + Math.min(limit ?? DEFAULT_COMPLETION_TOKENS, MAX_COMPLETION_ESTIMATE);
}

/** The tokens an engine computed for an answer: cached prompt tokens cost it next to nothing. */
export function servedTokens(usage: TokenUsage | undefined): number | undefined {
  return usage === undefined ? undefined : usage.prompt_tokens - usage.cached_prompt_tokens + usage.completion_tokens;
}
