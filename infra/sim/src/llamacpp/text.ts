/* llama-server's /tokenize, /detokenize and /apply-template. */
import type { SimEnv } from '../env.js';
import type { Reply } from '../http.js';
import { BOS_ID, chatPrompt, promptTokens, type ChatMessage } from '../tokenizer.js';
import { fields } from './body.js';
import { handlerError, json } from './http.js';

export function tokenize(env: SimEnv, value: unknown): Reply {
  const body = fields(value);
  const content = typeof body.content === 'string' ? body.content : '';
  const pieces = env.vocab.tokenize(content);
  const bos = body.add_special === true ? [{ id: BOS_ID, piece: '<s>' }] : [];
  const all = [...bos, ...pieces];
  return json({ tokens: body.with_pieces === true ? all : all.map((p) => p.id) });
}

export function detokenize(env: SimEnv, value: unknown): Reply {
  const tokens = fields(value).tokens;
  return json({ content: Array.isArray(tokens) ? env.vocab.detokenize(tokens) : '' });
}

export function applyTemplate(value: unknown): Reply {
  const messages = fields(value).messages;
  if (!Array.isArray(messages)) return handlerError('invalid_request_error', "'messages' is required");
  return json({ prompt: chatPrompt(messages as ChatMessage[]) });
}

/** `/chat/completions/input_tokens` (2026): the prompt's token count, without generating. */
export function chatInputTokens(value: unknown): Reply {
  const messages = fields(value).messages;
  if (!Array.isArray(messages)) return handlerError('invalid_request_error', "'messages' is required");
  return json({ object: 'response.input_tokens', input_tokens: promptTokens(chatPrompt(messages as ChatMessage[])) });
}
