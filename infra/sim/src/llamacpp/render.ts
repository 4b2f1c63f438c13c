/*
 * llama-server's response bodies and SSE chunks, field for field and in key
 * order as in the captures: OAI chat, OAI text completion, the native
 * /completion format and the embedding formats.
 */
import type { Outcome, ResponseMeta, StreamOutput, WholeOutput } from '../inference.js';
import { DONE, event, eventTemplate } from '../sse.js';
import { EOS_ID, type Vocab } from '../tokenizer.js';
import { json, STREAM_HEAD } from './http.js';
import { BUILD_INFO, samplingParams } from './settings.js';

export const N_EMBD = 64;

function usage(o: Outcome) {
  return {
    completion_tokens: o.completionTokens,
    prompt_tokens: o.promptTokens,
    total_tokens: o.promptTokens + o.completionTokens,
    prompt_tokens_details: { cached_tokens: o.cachedTokens },
  };
}

const perToken = (ms: number, n: number): number => (n > 0 ? ms / n : 0);
const perSecond = (n: number, ms: number): number => (ms > 0 ? (1e3 * n) / ms : 0);

function timings(o: Outcome) {
  const processed = o.promptTokens - o.cachedTokens;
  return {
    cache_n: o.cachedTokens,
    prompt_n: processed,
    prompt_ms: o.promptMs,
    prompt_per_token_ms: perToken(o.promptMs, processed),
    prompt_per_second: perSecond(processed, o.promptMs),
    predicted_n: o.completionTokens,
    predicted_ms: o.predictedMs,
    predicted_per_token_ms: perToken(o.predictedMs, o.completionTokens),
    predicted_per_second: perSecond(o.completionTokens, o.predictedMs),
  };
}

export function chatOutput(meta: ResponseMeta, stream: boolean, includeUsage: boolean): StreamOutput | WholeOutput {
  const { id, created, model } = meta;
  if (!stream) {
    return {
      stream: false,
      complete: (o) =>
        json({
          choices: [{ finish_reason: o.finish, index: 0, message: { role: 'assistant', content: o.text } }],
          created,
          model,
          system_fingerprint: BUILD_INFO,
          object: 'chat.completion',
          usage: usage(o),
          id,
          timings: timings(o),
        }),
    };
  }
  const chunk = (choices: unknown[], extra?: object) => ({
    choices,
    created,
    id,
    model,
    system_fingerprint: BUILD_INFO,
    object: 'chat.completion.chunk',
    ...extra,
  });
  const content = eventTemplate(1, ([text]) => chunk([{ finish_reason: null, index: 0, delta: { content: text } }]));
  return {
    stream: true,
    head: STREAM_HEAD,
    opening: () => event(chunk([{ finish_reason: null, index: 0, delta: { role: 'assistant', content: null } }])),
    // The EOS token has no text, so OAI streams show it only in the finish reason.
    step: (i, eos) => (eos ? '' : content(meta.content.json(i))),
    closing: (o) => {
      // Timings ride on the last chunk: the usage chunk when there is one, else the finish chunk.
      const finish = event(chunk([{ finish_reason: o.finish, index: 0, delta: {} }], includeUsage ? {} : { timings: timings(o) }));
      return finish + (includeUsage ? event(chunk([], { usage: usage(o), timings: timings(o) })) : '') + DONE;
    },
  };
}

export function completionOutput(meta: ResponseMeta, stream: boolean): StreamOutput | WholeOutput {
  const { id, created, model } = meta;
  const body = (text: string, finish: string | null, extra: object) => ({
    choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
    created,
    model,
    system_fingerprint: BUILD_INFO,
    object: 'text_completion',
    ...extra,
  });
  const final = (o: Outcome, text: string) => body(text, o.finish, { usage: usage(o), id, timings: timings(o) });
  if (!stream) return { stream: false, complete: (o) => json(final(o, o.text)) };
  const content = eventTemplate(1, ([text]) => body(text!, null, { id }));
  return {
    stream: true,
    head: STREAM_HEAD,
    opening: () => '',
    step: (i, eos) => (eos ? '' : content(meta.content.json(i))),
    // Usage is always in the final chunk here, include_usage or not.
    closing: (o) => event(final(o, '')) + DONE,
  };
}

export interface NativeRequest {
  readonly prompt: string;
  readonly promptTokens: number;
  readonly nPredict: number;
  readonly temperature: number;
}

export function nativeOutput(meta: ResponseMeta, stream: boolean, request: NativeRequest, vocab: Vocab): StreamOutput | WholeOutput {
  const final = (o: Outcome, content: string) => ({
    index: 0,
    content,
    tokens: [],
    id_slot: o.slotId,
    stop: true,
    model: meta.model,
    tokens_predicted: o.completionTokens,
    tokens_evaluated: o.promptTokens,
    generation_settings: samplingParams({ temperature: request.temperature, nPredict: request.nPredict, stream }, true),
    prompt: `<s> ${request.prompt}`,
    has_new_line: false,
    truncated: false,
    stop_type: o.finish === 'stop' ? 'eos' : 'limit',
    stopping_word: '',
    tokens_cached: o.promptTokens + o.completionTokens - 1,
    timings: timings(o),
  });
  if (!stream) return { stream: false, complete: (o) => json(final(o, o.text)) };
  const partial = eventTemplate(3, ([content, token, predicted]) => ({
    index: 0,
    content,
    tokens: [token],
    stop: false,
    id_slot: -1,
    tokens_predicted: predicted,
    tokens_evaluated: request.promptTokens,
  }));
  return {
    stream: true,
    head: STREAM_HEAD,
    opening: () => '',
    // Unlike the OAI formats, the native stream shows the EOS token as an empty chunk.
    step: (i, eos) =>
      eos
        ? partial('""', String(EOS_ID), String(i + 1))
        : partial(meta.content.json(i), String(vocab.idOf(meta.content.text(i))), String(i + 1)),
    // The native stream ends without [DONE]: the connection's chunked body simply ends.
    closing: (o) => event(final(o, '')),
  };
}

export function oaiEmbeddingsOutput(model: string, vectors: readonly number[][], promptTokens: number): WholeOutput {
  return {
    stream: false,
    complete: () =>
      json({
        model,
        object: 'list',
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
        data: vectors.map((embedding, index) => ({ embedding, index, object: 'embedding' })),
      }),
  };
}

export function nativeEmbeddingsOutput(vectors: readonly number[][]): WholeOutput {
  return { stream: false, complete: () => json(vectors.map((v, index) => ({ index, embedding: [v] }))) };
}
