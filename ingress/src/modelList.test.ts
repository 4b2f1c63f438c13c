import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { modelCardsOf, type DispatcherState } from '@infergate/shared';
import { modelList } from './modelList.js';

/** The body of llama-server's recorded `GET /v1/models` (infra/sim/fixtures/captures). */
function recordedModels(): unknown {
  const raw = readFileSync(new URL('../../infra/sim/fixtures/captures/v1-models.http', import.meta.url), 'utf8');
  return JSON.parse(raw.slice(raw.search(/\r?\n\r?\n/)).trim());
}

function dispatcher(id: string, engineKind: string, body: unknown): DispatcherState {
  const modelCards = modelCardsOf(body);
  return {
    id,
    engineUrl: `http://${id}`,
    engineKind,
    models: modelCards.map((c) => c.id),
    modelCards,
    ready: true,
    slots: { total: 1, busy: 0, free: 1 },
    inFlight: 0,
    outsideLoad: 0,
    blockedBy: null,
    lastError: null,
    startedAt: 0,
    updatedAt: Date.now(),
    draining: false,
  };
}

describe('the model list', () => {
  it('keeps every field of a recorded llama-server model card, and adds the gateway\'s', () => {
    const body = recordedModels() as { data: Array<Record<string, unknown>> };
    const [entry] = modelList([dispatcher('d1', 'llamacpp', body)], new Set());
    expect(entry).toEqual({ ...body.data[0], infergate: { engines: 1 } });
    expect(entry).toMatchObject({ aliases: ['/srv/llm/gguf/models/stories260K.gguf'], meta: { n_ctx_train: 2048 }, created: 1795680322 });
  });

  it('merges the cards of engines that serve the same model: lists joined, the first engine\'s values kept', () => {
    const card = (aliases: string[], extra: object) => ({ data: [{ id: 'm', object: 'model', owned_by: 'vllm', aliases, ...extra }] });
    const list = modelList(
      [dispatcher('d1', 'vllm', card(['a'], { max_model_len: 4096, root: '/models/m' })), dispatcher('d2', 'vllm', card(['a', 'b'], { max_model_len: 8192, parent: null }))],
      new Set(['old']),
    );
    expect(list).toEqual([
      { id: 'm', object: 'model', created: 0, owned_by: 'vllm', aliases: ['a', 'b'], max_model_len: 4096, root: '/models/m', parent: null, infergate: { engines: 2 } },
      { id: 'old', object: 'model', created: 0, owned_by: 'infergate', infergate: { engines: 0 } },
    ]);
  });
});
