/*
 * vLLM's generation and embedding endpoints. Everything is validated before
 * the request enters the engine (model name, context length), so errors are
 * plain JSON responses; an accepted stream gets its 200 headers at once and
 * then waits in the engine's queue like any other request.
 */
import { contentFor, type Content } from '../content.js';
import { embed, inputTexts } from '../embedding.js';
import type { SimEnv } from '../env.js';
import { isRecord, type Reply } from '../http.js';
import { hexId, unixSeconds } from '../ids.js';
import {
  planOutput,
  type FinishReason,
  type InferenceJob,
  type InferenceRoute,
  type StreamOutput,
  type WholeOutput,
} from '../inference.js';
import { chatPrompt, idPrompt, promptTokens, textPrompt, type ChatMessage, type PromptSequence } from '../tokenizer.js';
import { badRequest, error, failure, validationError } from './http.js';
import { chatOutput, completionOutput, embeddingsOutput, type VllmMeta } from './render.js';

const EMBEDDING_DIMS = 64;
/** CompletionRequest.max_tokens defaults to 16; chat has no default. */
const COMPLETION_DEFAULT_MAX_TOKENS = 16;

export function parseRequest(raw: Buffer): Record<string, unknown> | Reply {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return validationError('json_invalid', 0, 'JSON decode error');
  }
  return isRecord(value) ? value : validationError('model_attributes_type', 0, 'Input should be a valid dictionary or object to extract fields from');
}

export const isReply = (v: unknown): v is Reply => isRecord(v) && 'status' in v && 'body' in v;

export function servedNames(env: SimEnv): string[] {
  return [env.config.modelId, ...env.config.extraModelNames];
}

/** `_check_model`, after body validation: no model means the first served name, which responses always carry. */
function checkModel(env: SimEnv, body: Record<string, unknown>): Reply | undefined {
  const model = body.model;
  if (model === undefined || model === null || servedNames(env).includes(model as string)) return undefined;
  return error(404, 'NotFoundError', `The model \`${String(model)}\` does not exist.`);
}

function meta(env: SimEnv, prefix: string, content: Content): VllmMeta {
  const { modelId, promptTokensDetails } = env.config;
  return { id: `${prefix}-${hexId()}`, created: unixSeconds(), model: modelId, content, promptTokensDetails };
}

function capOf(body: Record<string, unknown>, keys: readonly string[], fallback?: number): number | undefined | Reply {
  for (const key of keys) {
    const v = body[key];
    if (v === undefined || v === null) continue;
    if (!Number.isInteger(v)) return validationError('int_type', key, 'Input should be a valid integer');
    if ((v as number) < 1) return badRequest(`${key} must be at least 1, got ${String(v)}.`, key);
    return v as number;
  }
  return fallback;
}

/** The 400 a request gets when prompt plus requested output exceed max_model_len. */
function contextError(maxLen: number, prompt: number, cap: number | undefined): Reply | undefined {
  const suffix = `(parameter=input_tokens, value=${prompt})`;
  if (cap === undefined) {
    if (prompt < maxLen) return undefined;
    return badRequest(
      `This model's maximum context length is ${maxLen} tokens. However, your request has ${prompt} input tokens. Please reduce the length of the input messages. ${suffix}`,
      'input_tokens',
    );
  }
  if (prompt + cap <= maxLen) return undefined;
  return badRequest(
    `This model's maximum context length is ${maxLen} tokens. However, you requested ${cap} output tokens and your prompt contains at least ${prompt} input tokens, for a total of at least ${prompt + cap} tokens. Please reduce the length of the input prompt or the number of requested output tokens. ${suffix}`,
    'input_tokens',
  );
}

interface GenerationRequest {
  readonly body: Record<string, unknown>;
  readonly prompt: PromptSequence;
  readonly cap: number | undefined;
  /** The id prefix vLLM gives this endpoint's responses. */
  readonly idPrefix: string;
  readonly output: (meta: VllmMeta, stream: boolean, finish: FinishReason, includeUsage: boolean) => StreamOutput | WholeOutput;
}

function job(env: SimEnv, g: GenerationRequest): InferenceJob | Reply {
  const { nCtx, tokens, textMode, tokenStyle } = env.config;
  const promptTokens = g.prompt.tokens.length;
  const refusal = checkModel(env, g.body) ?? contextError(nCtx, promptTokens, g.cap);
  if (refusal) return refusal;
  const content = contentFor(textMode, tokenStyle, g.prompt.tokens);
  const plan = planOutput(content.naturalLength(tokens), g.cap, nCtx - promptTokens);
  const stream = g.body.stream === true;
  const includeUsage = isRecord(g.body.stream_options) && g.body.stream_options.include_usage === true;
  return {
    promptTokens,
    prompt: g.prompt,
    plan,
    content,
    maxTokens: g.cap ?? -1,
    temperature: typeof g.body.temperature === 'number' ? g.body.temperature : 1,
    headersBeforeSlot: true,
    output: g.output(meta(env, g.idPrefix, content), stream, plan.finish, includeUsage),
  };
}

function route(env: SimEnv, build: (body: Record<string, unknown>) => InferenceJob | Reply): InferenceRoute {
  return {
    failure,
    build: (raw) => {
      const body = parseRequest(raw);
      return isReply(body) ? body : build(body);
    },
  };
}

export function chatRoute(env: SimEnv): InferenceRoute {
  return route(env, (body) => {
    if (!('messages' in body)) return validationError('missing', 'messages', 'Field required');
    if (!Array.isArray(body.messages)) return validationError('list_type', 'messages', 'Input should be a valid list');
    const cap = capOf(body, ['max_completion_tokens', 'max_tokens']);
    if (isReply(cap)) return cap;
    return job(env, {
      body,
      prompt: textPrompt(chatPrompt(body.messages as ChatMessage[])),
      cap,
      idPrefix: 'chatcmpl',
      output: chatOutput,
    });
  });
}

export function completionRoute(env: SimEnv): InferenceRoute {
  return route(env, (body) => {
    const prompt = body.prompt;
    if (typeof prompt !== 'string' && !Array.isArray(prompt)) return badRequest('Either prompt or prompt_embeds must be provided and non-empty.');
    const cap = capOf(body, ['max_tokens'], COMPLETION_DEFAULT_MAX_TOKENS);
    if (isReply(cap)) return cap;
    // Token ids count one each; a list of prompts (a batch in vLLM) is read as one text.
    const sequence =
      typeof prompt === 'string'
        ? textPrompt(prompt)
        : prompt.every((x) => typeof x === 'number')
          ? idPrompt(prompt, env.vocab)
          : textPrompt(prompt.join(''));
    return job(env, {
      body,
      prompt: sequence,
      cap,
      idPrefix: 'cmpl',
      output: completionOutput,
    });
  });
}

export function embeddingRoute(env: SimEnv): InferenceRoute {
  return route(env, (body) => {
    const texts = inputTexts(body.input);
    if (!texts) return validationError('missing', 'input', 'Field required');
    const tokens = texts.reduce((sum, t) => sum + promptTokens(t), 0);
    const refusal = checkModel(env, body) ?? contextError(env.config.nCtx, Math.max(...texts.map(promptTokens)), undefined);
    if (refusal) return refusal;
    const content = contentFor(env.config.textMode, env.config.tokenStyle, []);
    return {
      promptTokens: tokens,
      plan: { tokens: 0, finish: 'length' },
      content,
      maxTokens: -1,
      temperature: 1,
      headersBeforeSlot: false,
      output: embeddingsOutput(meta(env, 'embd', content), texts.map((t) => embed(t, EMBEDDING_DIMS)), tokens),
    };
  });
}
