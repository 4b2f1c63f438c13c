/*
 * The generation and embedding endpoints of llama-server: request checks
 * with the engine's own messages and statuses, then a job for the shared
 * scheduler. The context-size check runs when a slot picks the task up, as
 * in the engine, so an oversized request that had to wait still waits.
 */
import { contentFor } from '../content.js';
import { alnumId, unixSeconds } from '../ids.js';
import type { Reply } from '../http.js';
import { embed, inputTexts } from '../embedding.js';
import type { SimEnv } from '../env.js';
import { planOutput, type InferenceJob, type InferenceRoute, type ResponseMeta, type StreamOutput, type WholeOutput } from '../inference.js';
import { chatPrompt, idPrompt, promptTokens, textPrompt, type ChatMessage, type PromptSequence } from '../tokenizer.js';
import { fields, isParsed, parseBody } from './body.js';
import { failure, handlerError } from './http.js';
import {
  chatOutput,
  completionOutput,
  N_EMBD,
  nativeEmbeddingsOutput,
  nativeOutput,
  oaiEmbeddingsOutput,
} from './render.js';

const DEFAULT_TEMPERATURE = 0.8;

interface GenerationRequest {
  /** A bare count for embeddings, which the prompt cache does not see. */
  readonly prompt: PromptSequence | number;
  readonly cap: number | undefined;
  readonly temperature: number;
  readonly output: (meta: ResponseMeta) => StreamOutput | WholeOutput;
}

function contextError(promptTokens: number, nCtx: number): Reply {
  return handlerError(
    'exceed_context_size_error',
    `request (${promptTokens} tokens) exceeds the available context size (${nCtx} tokens), try increasing it`,
    { n_prompt_tokens: promptTokens, n_ctx: nCtx },
  );
}

/** `n_predict` wins over `max_tokens` (llama.cpp's rule); negative means unbounded. */
function capOf(body: Record<string, unknown>): number | undefined {
  for (const key of ['n_predict', 'max_tokens', 'max_completion_tokens']) {
    const v = body[key];
    if (typeof v === 'number' && Number.isInteger(v)) return v < 0 ? undefined : v;
  }
  return undefined;
}

function job(env: SimEnv, g: GenerationRequest): InferenceJob {
  const { nCtx, tokens, textMode, tokenStyle, modelId } = env.config;
  const prompt = typeof g.prompt === 'number' ? undefined : g.prompt;
  const promptTokens = prompt ? prompt.tokens.length : (g.prompt as number);
  const content = contentFor(textMode, tokenStyle, prompt?.tokens ?? []);
  const meta: ResponseMeta = { id: `chatcmpl-${alnumId()}`, created: unixSeconds(), model: modelId, content };
  return {
    promptTokens,
    prompt,
    plan: planOutput(content.naturalLength(tokens), g.cap, nCtx - promptTokens),
    content,
    maxTokens: g.cap ?? -1,
    temperature: g.temperature,
    headersBeforeSlot: false,
    rejectOnStart: promptTokens >= nCtx ? contextError(promptTokens, nCtx) : undefined,
    output: g.output(meta),
  };
}

const temperatureOf = (body: Record<string, unknown>): number =>
  typeof body.temperature === 'number' ? body.temperature : DEFAULT_TEMPERATURE;

const streams = (body: Record<string, unknown>): boolean => body.stream === true;

/** A prompt as text (a string, or token ids turned back into text) and as tokens. */
function promptOf(env: SimEnv, prompt: unknown): { text: string; sequence: PromptSequence } {
  if (typeof prompt === 'string') return { text: prompt, sequence: textPrompt(prompt) };
  if (Array.isArray(prompt) && prompt.every((x) => typeof x === 'number')) {
    return { text: env.vocab.detokenize(prompt), sequence: idPrompt(prompt, env.vocab) };
  }
  const text = JSON.stringify(prompt);
  return { text, sequence: textPrompt(text) };
}

/** The checks of `oaicompat_chat_params_parse`, with its messages. */
function checkMessages(body: Record<string, unknown>): Reply | readonly ChatMessage[] {
  if (!('messages' in body)) return handlerError('invalid_request_error', "'messages' is required");
  const messages = body.messages;
  if (!Array.isArray(messages)) return handlerError('invalid_request_error', "Expected 'messages' to be an array");
  for (const raw of messages) {
    const msg = fields(raw);
    const role = typeof msg.role === 'string' ? msg.role : '';
    if (role !== 'assistant' && !('content' in msg)) {
      return handlerError('invalid_request_error', "All non-assistant messages must contain 'content'");
    }
    if (role === 'assistant' && !('content' in msg) && !('tool_calls' in msg)) {
      return handlerError('invalid_request_error', "Assistant message must contain either 'content' or 'tool_calls'!");
    }
    const content = msg.content;
    if ('content' in msg && typeof content !== 'string' && content !== null && !Array.isArray(content)) {
      return handlerError('invalid_request_error', "Expected 'content' to be a string or an array");
    }
  }
  return messages as ChatMessage[];
}

/** Parses the body and hands the field object to `build`. */
function route(build: (body: Record<string, unknown>) => InferenceJob | Reply): InferenceRoute {
  return {
    failure,
    build: (raw) => {
      const parsed = parseBody(raw);
      return isParsed(parsed) ? build(fields(parsed.value)) : parsed;
    },
  };
}

export function chatRoute(env: SimEnv): InferenceRoute {
  return route((body) => {
    const messages = checkMessages(body);
    if ('status' in messages) return messages;
    const options = fields(body.stream_options);
    return job(env, {
      prompt: textPrompt(chatPrompt(messages)),
      cap: capOf(body),
      temperature: temperatureOf(body),
      output: (meta) => chatOutput(meta, streams(body), options.include_usage === true),
    });
  });
}

export function completionRoute(env: SimEnv): InferenceRoute {
  return route((body) => {
    // Thrown as std::runtime_error outside the handler's own try, hence a 500.
    if (!('prompt' in body)) return handlerError('server_error', '"prompt" is required');
    return job(env, {
      prompt: promptOf(env, body.prompt).sequence,
      cap: capOf(body),
      temperature: temperatureOf(body),
      output: (meta) => completionOutput(meta, streams(body)),
    });
  });
}

export function nativeRoute(env: SimEnv): InferenceRoute {
  return route((body) => {
    if (!('prompt' in body)) return handlerError('invalid_request_error', "[json.exception.out_of_range.403] key 'prompt' not found");
    const prompt = promptOf(env, body.prompt);
    const cap = capOf(body);
    const temperature = temperatureOf(body);
    const request = { prompt: prompt.text, promptTokens: prompt.sequence.tokens.length, nPredict: cap ?? -1, temperature };
    return job(env, {
      prompt: prompt.sequence,
      cap,
      temperature,
      output: (meta) => nativeOutput(meta, streams(body), request, env.vocab),
    });
  });
}

/** /v1/embeddings (`oai`) and the native /embedding(s): a slot for the time to first token, then the vectors. */
export function embeddingRoute(env: SimEnv, oai: boolean): InferenceRoute {
  return route((body) => {
    const texts = inputTexts(body.input ?? body.content);
    if (!texts) return handlerError('invalid_request_error', '"input" or "content" must be provided');
    const vectors = texts.map((t) => embed(t, N_EMBD));
    const tokens = texts.reduce((sum, t) => sum + promptTokens(t), 0);
    const model = typeof body.model === 'string' ? body.model : env.config.modelId;
    return {
      ...job(env, {
        prompt: tokens,
        cap: 0,
        temperature: DEFAULT_TEMPERATURE,
        output: () => (oai ? oaiEmbeddingsOutput(model, vectors, tokens) : nativeEmbeddingsOutput(vectors)),
      }),
      maxTokens: -1,
    };
  });
}
