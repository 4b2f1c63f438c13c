/*
 * The engine paths an ingress forwards. Anything else is answered with a 404
 * before it reaches a queue: engine admin surfaces (llama.cpp POST /slots,
 * POST /props, LoRA changes; vLLM dev-mode, LoRA load/unload, profiling)
 * must never be reachable through the gateway.
 */
export const INFERENCE_PATHS: readonly string[] = [
  // OpenAI-compatible, both engines
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/messages',
  '/v1/messages/count_tokens',
  '/v1/rerank',
  '/v1/score',
  // llama.cpp native and aliases
  '/chat/completions',
  '/completions',
  '/completion',
  '/embedding',
  '/embeddings',
  '/infill',
  '/rerank',
  '/reranking',
  '/v1/reranking',
  '/tokenize',
  '/detokenize',
  '/apply-template',
  // vLLM native
  '/pooling',
  '/classify',
  '/score',
  '/v2/rerank',
];
