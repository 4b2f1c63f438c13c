/* llama-server's read-only endpoints: /health, /slots, /props, /models. */
import type { SimEnv } from '../env.js';
import type { Reply } from '../http.js';
import type { Slot } from '../slots.js';
import { handlerError, json } from './http.js';
import { BUILD_INFO, CHAT_TEMPLATE, samplingParams } from './settings.js';

export const HEALTHY = json({ status: 'ok' });

function slotJson(slot: Slot, nCtx: number) {
  const base = { id: slot.id, n_ctx: nCtx, speculative: false, is_processing: slot.task !== undefined };
  // An idle slot still reports its previous task, as the engine does.
  const task = slot.task ?? slot.lastTask;
  if (!task) return base;
  const running = slot.task !== undefined;
  return {
    ...base,
    id_task: task.id,
    n_prompt_tokens: task.promptTokens,
    n_prompt_tokens_processed: running ? task.promptTokens - (task.cachedTokens ?? 0) : 0,
    n_prompt_tokens_cache: running ? (task.cachedTokens ?? 0) : 0,
    params: samplingParams({ temperature: task.temperature, nPredict: task.maxTokens, stream: task.stream }, false),
    next_token: [
      {
        has_next_token: running,
        has_new_line: false,
        n_remain: running && task.maxTokens >= 0 ? task.maxTokens - task.decoded : -1,
        n_decoded: running ? task.decoded : 0,
      },
    ],
  };
}

export function slots(env: SimEnv, query: URLSearchParams): Reply {
  const { pool, config } = env;
  const failOnNoSlot = ['1', 'true'].includes(query.get('fail_on_no_slot') ?? '');
  if (failOnNoSlot && pool.busy >= pool.size) return handlerError('unavailable_error', 'no slot available');
  return json(pool.list().map((s) => slotJson(s, config.nCtx)));
}

export function props(env: SimEnv, mediaMarker: string): Reply {
  const { config, pool } = env;
  return json({
    default_generation_settings: {
      params: samplingParams({ temperature: 0.8, nPredict: -1, stream: false }, false),
      n_ctx: config.nCtx,
    },
    total_slots: pool.size,
    model_alias: config.modelId,
    model_ftype: '(guessed) all F32',
    model_path: config.modelId,
    modalities: { vision: false, video: false, audio: false },
    media_marker: mediaMarker,
    endpoint_slots: true,
    endpoint_props: false,
    endpoint_metrics: config.metrics,
    ui: false,
    ui_settings: {},
    chat_template: CHAT_TEMPLATE,
    chat_template_caps: {
      supports_object_arguments: false,
      supports_parallel_tool_calls: false,
      supports_preserve_reasoning: false,
      supports_reasoning_effort: false,
      supports_string_content: true,
      supports_system_role: true,
      supports_tool_calls: false,
      supports_tools: false,
      supports_typed_content: false,
    },
    bos_token: '<s>',
    eos_token: '</s>',
    build_info: BUILD_INFO,
    is_sleeping: false,
    cors_proxy_enabled: false,
  });
}

/** Both lists llama-server returns: Ollama-style `models` and OpenAI-style `data`. */
export function models(env: SimEnv, created: number): Reply {
  const { modelId, extraModelNames, nCtx } = env.config;
  return json({
    models: [
      {
        name: modelId,
        model: modelId,
        modified_at: '',
        size: '',
        digest: '',
        type: 'model',
        description: '',
        tags: [''],
        capabilities: ['completion'],
        parameters: '',
        details: { parent_model: '', format: 'gguf', family: '', families: [''], parameter_size: '', quantization_level: '' },
      },
    ],
    object: 'list',
    data: [
      {
        id: modelId,
        aliases: [modelId, ...extraModelNames],
        tags: [],
        object: 'model',
        created,
        owned_by: 'llamacpp',
        meta: { vocab_type: 1, n_vocab: 512, n_ctx: nCtx, n_ctx_train: 2048, n_embd: 64, n_params: 292800, size: 1171200, ftype: '(guessed) all F32' },
      },
    ],
  });
}
