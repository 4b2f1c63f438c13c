import type { Attributes } from '@opentelemetry/api';
import type { TokenUsage } from '../usage/tokenUsage.js';

/*
 * Span attribute names both services use. The GenAI ones are still
 * "development" in the semantic conventions, so they are spelled here
 * rather than imported from the package's incubating entry point, which
 * may rename them between releases. Prompts and answers never become
 * attributes: only their model, token counts and outcome.
 */

export const GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
export const GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';

export const INFERGATE_REQUEST_ID = 'infergate.request_id';
/** How the request or job ended: completed, error, cancelled (ingress); served, failed, cancelled, retry (dispatcher). */
export const INFERGATE_FINISH = 'infergate.finish';
export const INFERGATE_DISPATCHER = 'infergate.dispatcher';
export const INFERGATE_LANE = 'infergate.queue.lane';
export const INFERGATE_PRIORITY = 'infergate.queue.priority';
export const INFERGATE_ATTEMPT = 'infergate.queue.attempt';
export const INFERGATE_USAGE_ESTIMATED = 'infergate.usage.estimated';

/** The GenAI operation a request path is, after the conventions' names; undefined for an engine-native path. */
export function genAiOperation(path: string): string | undefined {
  if (path.startsWith('/v1/chat/completions')) return 'chat';
  if (path.startsWith('/v1/completions') || path.startsWith('/completion')) return 'text_completion';
  if (path.startsWith('/v1/embeddings') || path.startsWith('/embedding')) return 'embeddings';
  return undefined;
}

/** The token counts of an answer as GenAI attributes (input counts cached prompt tokens too, as the conventions say). */
export function usageAttributes(usage: TokenUsage): Attributes {
  return {
    [GEN_AI_USAGE_INPUT_TOKENS]: usage.prompt_tokens,
    [GEN_AI_USAGE_OUTPUT_TOKENS]: usage.completion_tokens,
    ...(usage.estimated ? { [INFERGATE_USAGE_ESTIMATED]: true } : {}),
  };
}
