/* vLLM's /v1/models, /tokenize and /detokenize. */
import type { SimEnv } from '../env.js';
import type { Reply } from '../http.js';
import { hexId } from '../ids.js';
import { BOS_ID, chatPrompt, type ChatMessage } from '../tokenizer.js';
import { servedNames } from './completions.js';
import { json, validationError } from './http.js';

export function models(env: SimEnv, created: number): Reply {
  const { modelId, nCtx } = env.config;
  return json({
    object: 'list',
    data: servedNames(env).map((id) => ({
      id,
      object: 'model',
      created,
      owned_by: 'vllm',
      root: modelId,
      parent: null,
      max_model_len: nCtx,
      permission: [
        {
          id: `modelperm-${hexId()}`,
          object: 'model_permission',
          created,
          allow_create_engine: false,
          allow_sampling: true,
          allow_logprobs: true,
          allow_search_indices: false,
          allow_view: true,
          allow_fine_tuning: false,
          organization: '*',
          group: null,
          is_blocking: false,
        },
      ],
    })),
  });
}

export function tokenize(env: SimEnv, body: Record<string, unknown>): Reply {
  const text = typeof body.prompt === 'string' ? body.prompt : Array.isArray(body.messages) ? chatPrompt(body.messages as ChatMessage[]) : undefined;
  if (text === undefined) return validationError('missing', 'prompt', 'Field required');
  const ids = env.vocab.tokenize(text).map((p) => p.id);
  const tokens = body.add_special_tokens === false ? ids : [BOS_ID, ...ids];
  return json({ count: tokens.length, max_model_len: env.config.nCtx, tokens, token_strs: null });
}

export function detokenize(env: SimEnv, body: Record<string, unknown>): Reply {
  if (!Array.isArray(body.tokens)) return validationError('missing', 'tokens', 'Field required');
  return json({ prompt: env.vocab.detokenize(body.tokens) });
}

