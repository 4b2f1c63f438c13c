/*
 * vLLM's OpenAI response bodies and SSE chunks. Stream chunks are
 * `model_dump_json(exclude_unset=True)`, so they omit what the engine did
 * not set; whole responses are full dumps with their nulls.
 */
import type { FinishReason, Outcome, ResponseMeta, StreamOutput, WholeOutput } from '../inference.js';
import { DONE, event, eventTemplate } from '../sse.js';
import { json, STREAM_HEAD } from './http.js';

export interface VllmMeta extends ResponseMeta {
  /** `--enable-prompt-tokens-details`. */
  readonly promptTokensDetails: boolean;
}

const usage = (o: Outcome) => ({
  prompt_tokens: o.promptTokens,
  total_tokens: o.promptTokens + o.completionTokens,
  completion_tokens: o.completionTokens,
});

/** `--enable-prompt-tokens-details` sets the details only when some tokens were cached. */
const cachedDetails = (o: Outcome, details: boolean) => (details && o.cachedTokens > 0 ? { cached_tokens: o.cachedTokens } : undefined);

/** Whole responses dump every field, an unset one as null; stream chunks leave unset fields out. */
const fullUsage = (o: Outcome, details: boolean) => ({ ...usage(o), prompt_tokens_details: cachedDetails(o, details) ?? null });
const chunkUsage = (o: Outcome, details: boolean) => {
  const cached = cachedDetails(o, details);
  return cached ? { ...usage(o), prompt_tokens_details: cached } : usage(o);
};

/** What every stream shares: per-token chunks, the finish on the last one, optional usage, then [DONE]. */
function streamOutput(
  meta: VllmMeta,
  finish: FinishReason,
  includeUsage: boolean,
  chunk: (choices: unknown[], extra?: object) => object,
  choice: (text: unknown, finish: FinishReason | null) => object,
  opening: string,
): StreamOutput {
  const content = eventTemplate(1, ([text]) => chunk([choice(text, null)]));
  return {
    stream: true,
    head: STREAM_HEAD,
    opening: () => opening,
    // The last chunk carries the finish reason with its text; the EOS token's text is empty.
    step: (i, eos, last) =>
      last ? event(chunk([choice(eos ? '' : meta.content.text(i), finish)])) : content(meta.content.json(i)),
    closing: (o) => (includeUsage ? event(chunk([], { usage: chunkUsage(o, meta.promptTokensDetails) })) : '') + DONE,
  };
}

export function chatOutput(meta: VllmMeta, stream: boolean, finish: FinishReason, includeUsage: boolean): StreamOutput | WholeOutput {
  const { id, created, model } = meta;
  if (!stream) {
    return {
      stream: false,
      complete: (o) =>
        json({
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: o.text,
                refusal: null,
                annotations: null,
                audio: null,
                function_call: null,
                tool_calls: [],
                reasoning_content: null,
              },
              logprobs: null,
              finish_reason: o.finish,
              stop_reason: null,
            },
          ],
          service_tier: null,
          system_fingerprint: null,
          usage: fullUsage(o, meta.promptTokensDetails),
          prompt_logprobs: null,
          kv_transfer_params: null,
        }),
    };
  }
  const chunk = (choices: unknown[], extra?: object) => ({ id, object: 'chat.completion.chunk', created, model, choices, ...extra });
  const choice = (content: unknown, reason: FinishReason | null) => ({
    index: 0,
    delta: { content },
    logprobs: null,
    finish_reason: reason,
    ...(reason && { stop_reason: null }),
  });
  const role = event(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
  return streamOutput(meta, finish, includeUsage, chunk, choice, role);
}

export function completionOutput(meta: VllmMeta, stream: boolean, finish: FinishReason, includeUsage: boolean): StreamOutput | WholeOutput {
  const { id, created, model } = meta;
  if (!stream) {
    return {
      stream: false,
      complete: (o) =>
        json({
          id,
          object: 'text_completion',
          created,
          model,
          choices: [{ index: 0, text: o.text, logprobs: null, finish_reason: o.finish, stop_reason: null, prompt_logprobs: null }],
          service_tier: null,
          system_fingerprint: null,
          usage: fullUsage(o, meta.promptTokensDetails),
          kv_transfer_params: null,
        }),
    };
  }
  const chunk = (choices: unknown[], extra?: object) => ({ id, object: 'text_completion', created, model, choices, ...extra });
  const choice = (text: unknown, reason: FinishReason | null) => ({ index: 0, text, logprobs: null, finish_reason: reason, stop_reason: null });
  return streamOutput(meta, finish, includeUsage, chunk, choice, '');
}

export function embeddingsOutput(meta: ResponseMeta, vectors: readonly number[][], promptTokens: number): WholeOutput {
  return {
    stream: false,
    complete: () =>
      json({
        id: meta.id,
        object: 'list',
        created: meta.created,
        model: meta.model,
        data: vectors.map((embedding, index) => ({ index, object: 'embedding', embedding })),
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens, completion_tokens: 0, prompt_tokens_details: null },
      }),
  };
}
