/*
 * The vLLM personality against vLLM's source (there are no vLLM captures):
 * vllm/entrypoints/openai/api_server.py, serve/instrumentator/health.py,
 * v1/metrics/loggers.py, openai/chat_completion/serving.py and
 * openai/engine/protocol.py. Readiness by refused
 * connections, prometheus_client metrics, the OpenAI stream grammar with
 * `content: ""` role chunks and [DONE], nested errors, and the waiting queue.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectedTokens } from '../content.js';
import { startSimulator, type SimulatorHandle } from '../simulator.js';
import { call, eventually, fetchRaw } from '../testing/client.js';
import { contentOf, eventKind, eventsOf } from '../testing/replay.js';

const SETTINGS = { slots: 4, nCtx: 2048, ttftMs: 1, itlMs: 1, tokens: 1000, kvPerRequest: 0.05, kvUsage: null, preemptions: 0, embeddings: false };

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSimulator({ kind: 'vllm', ...SETTINGS, extraModelNames: ['alias-b'] });
});
afterAll(() => sim.close());
beforeEach(() => {
  sim.configure(SETTINGS);
  sim.resetStats();
});

const chat = (extra: object = {}) => ({ model: 'sim-model', messages: [{ role: 'user', content: 'hi' }], ...extra });
const json = async (path: string, body?: object) => {
  const r = await fetchRaw(sim.url, path, { body });
  return { status: r.status, headers: r.headers, body: JSON.parse(r.body) };
};

describe('readiness', () => {
  it('refuses connections while loading, then /health is 200 with an empty body', async () => {
    const loading = await startSimulator({ kind: 'vllm', loadMs: 300 });
    try {
      expect(loading.port).toBeGreaterThan(0);
      await expect(fetchRaw(loading.url, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      await loading.ready;
      const health = await fetchRaw(loading.url, '/health');
      expect([health.status, health.body, health.headers['content-length']]).toEqual([200, '', '0']);
    } finally {
      await loading.close();
    }
  });
});

describe('/metrics', () => {
  it('exposes the V1 families with engine and model_name labels in prometheus_client format', async () => {
    const r = await fetchRaw(sim.url, '/metrics');
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const labels = '{engine="0",model_name="sim-model"}';
    for (const line of [
      '# TYPE vllm:num_requests_running gauge',
      `vllm:num_requests_running${labels} 0.0`,
      '# TYPE vllm:num_requests_waiting gauge',
      `vllm:num_requests_waiting${labels} 0.0`,
      '# TYPE vllm:kv_cache_usage_perc gauge',
      `vllm:kv_cache_usage_perc${labels} 0.0`,
      '# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.',
      '# TYPE vllm:num_preemptions_total counter',
      `vllm:num_preemptions_total${labels} 0.0`,
      '# TYPE vllm:num_preemptions_created gauge',
      '# TYPE vllm:cache_config_info gauge',
    ]) {
      expect(r.body.split('\n')).toContain(line);
    }
    expect(r.body).toMatch(/^vllm:num_preemptions_created\{engine="0",model_name="sim-model"\} \d\.\d+e\+09$/m);
    expect(r.body).toMatch(/^vllm:cache_config_info\{block_size="16",.*engine="0".*\} 1\.0$/m);
  });

  it('computes KV usage from running requests unless pinned, and reports preemptions as set', async () => {
    sim.configure({ kvPerRequest: 0.25, itlMs: 20 });
    const streams = [0, 1].map(() => call(sim.url, '/v1/chat/completions', { body: chat({ stream: true }) }));
    await eventually(() => sim.stats().processing === 2);
    const metric = async (name: string) => {
      const line = (await fetchRaw(sim.url, '/metrics')).body.split('\n').find((l) => l.startsWith(`${name}{`));
      return line?.split(' ')[1];
    };
    expect(await metric('vllm:kv_cache_usage_perc')).toBe('0.5');
    expect(await metric('vllm:num_requests_running')).toBe('2.0');
    sim.configure({ kvUsage: 0.9, preemptions: 3 });
    expect(await metric('vllm:kv_cache_usage_perc')).toBe('0.9');
    expect(await metric('vllm:num_preemptions_total')).toBe('3.0');
    streams.forEach((s) => s.abort());
    await eventually(() => sim.stats().processing === 0);
  });
});

describe('streams', () => {
  it('chat: role chunk with content "", content chunks, finish on the last one with stop_reason, usage, [DONE]', async () => {
    const r = await fetchRaw(sim.url, '/v1/chat/completions', {
      body: chat({ stream: true, max_tokens: 5, stream_options: { include_usage: true } }),
    });
    expect(r.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const events = eventsOf(r.body);
    expect(events.map(eventKind)).toEqual(['role', 'content', 'content', 'content', 'content', 'finish', 'usage', '[DONE]']);
    const [role, , , , , finish, usage] = events.map((e) => (e.done ? {} : e.json));
    expect(role).toMatchObject({ object: 'chat.completion.chunk', model: 'sim-model', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
    expect(String(role!.id)).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(finish!.choices).toEqual([{ index: 0, delta: { content: ' t4' }, logprobs: null, finish_reason: 'length', stop_reason: null }]);
    expect(usage).toMatchObject({ choices: [], usage: { prompt_tokens: expect.any(Number), completion_tokens: 5 } });
    expect(events.map(contentOf).join('')).toBe(expectedTokens(5));
  });

  it('a natural stop ends with an empty delta, finish_reason stop, and counts the EOS token', async () => {
    sim.configure({ tokens: 3 });
    const events = eventsOf((await fetchRaw(sim.url, '/v1/chat/completions', { body: chat({ stream: true, stream_options: { include_usage: true } }) })).body);
    expect(events.map(contentOf).join('')).toBe(expectedTokens(3));
    expect(events.at(-3)).toMatchObject({ json: { choices: [{ delta: { content: '' }, finish_reason: 'stop', stop_reason: null }] } });
    expect(events.at(-2)).toMatchObject({ json: { usage: { completion_tokens: 4 } } });
  });

  it('completions: no role chunk, text_completion chunks with stop_reason, [DONE]; max_tokens defaults to 16', async () => {
    const events = eventsOf((await fetchRaw(sim.url, '/v1/completions', { body: { prompt: 'Once upon a time', stream: true } })).body);
    expect(events.map(eventKind)).toEqual([...Array<string>(15).fill('content'), 'finish', '[DONE]']);
    expect(events[0]).toMatchObject({ json: { object: 'text_completion', choices: [{ index: 0, text: ' t0', logprobs: null, finish_reason: null, stop_reason: null }] } });
    expect(events.map(contentOf).join('')).toBe(expectedTokens(16));
  });

  it('answers a stream with 200 at once, even while it waits beyond max_num_seqs', async () => {
    sim.configure({ slots: 1, itlMs: 5, tokens: 10 });
    const first = call(sim.url, '/v1/chat/completions', { body: chat({ stream: true }) });
    await eventually(() => sim.stats().processing === 1);
    const waiting = [call(sim.url, '/v1/chat/completions', { body: chat({ stream: true }) }), call(sim.url, '/v1/chat/completions', { body: chat({ stream: true }) })];
    await Promise.all(waiting.map((w) => w.headers));
    expect(waiting.map((w) => [w.head?.status, w.text])).toEqual([[200, ''], [200, '']]);
    const metrics = (await fetchRaw(sim.url, '/metrics')).body;
    expect(metrics).toMatch(/^vllm:num_requests_running\{.*\} 1\.0$/m);
    expect(metrics).toMatch(/^vllm:num_requests_waiting\{.*\} 2\.0$/m);
    const bodies = await Promise.all([first, ...waiting].map((c) => c.done));
    for (const b of bodies) expect(eventsOf(b.body).map(contentOf).join('')).toBe(expectedTokens(10));
    expect(sim.stats()).toMatchObject({ peakProcessing: 1, deferrals: 2 });
  });
});

describe('models and errors', () => {
  it('/v1/models lists every served name with the vLLM ModelCard fields', async () => {
    const { body } = await json('/v1/models');
    expect(body.object).toBe('list');
    expect(body.data.map((m: { id: string }) => m.id)).toEqual(['sim-model', 'alias-b']);
    expect(body.data[0]).toMatchObject({ object: 'model', owned_by: 'vllm', root: 'sim-model', parent: null, max_model_len: 2048 });
    expect(body.data[0].permission[0]).toMatchObject({ object: 'model_permission', id: expect.stringMatching(/^modelperm-/) });
  });

  it('serves any served name or no model at all under the first name, and 404s an unknown one', async () => {
    for (const model of ['alias-b', undefined]) {
      const r = await json('/v1/chat/completions', chat({ model, max_tokens: 2 }));
      expect([r.status, r.body.model, r.body.choices[0].message.content]).toEqual([200, 'sim-model', expectedTokens(2)]);
    }
    const unknown = await fetchRaw(sim.url, '/v1/chat/completions', { body: chat({ model: 'nope' }) });
    expect([unknown.status, unknown.body]).toEqual([404, '{"error":{"message":"The model `nope` does not exist.","type":"NotFoundError","param":null,"code":404}}']);
  });

  it('rejects a prompt beyond max_model_len with 400 BadRequestError before any streaming', async () => {
    sim.configure({ nCtx: 64 });
    const r = await json('/v1/chat/completions', chat({ stream: true, max_tokens: 10, messages: [{ role: 'user', content: 'x'.repeat(400) }] }));
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.body.error).toMatchObject({ type: 'BadRequestError', param: 'input_tokens', code: 400 });
    expect(r.body.error.message).toContain('maximum context length is 64 tokens');
  });

  it('answers malformed and incomplete bodies with FastAPI validation errors, unknown paths with {"detail"}', async () => {
    const malformed = await fetchRaw(sim.url, '/v1/chat/completions', { body: '{"messages": [' });
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body).error).toMatchObject({ type: 'Bad Request', code: 400, param: null });
    const missing = await json('/v1/chat/completions', { model: 'sim-model' });
    expect([missing.status, missing.body.error.message]).toEqual([400, expect.stringContaining("'messages'")]);
    expect(await json('/nope')).toMatchObject({ status: 404, body: { detail: 'Not Found' } });
    expect(await json('/v1/embeddings', { input: 'x' })).toMatchObject({ status: 404, body: { detail: 'Not Found' } });
    expect((await fetchRaw(sim.url, '/v1/chat/completions')).status).toBe(405);
  });

  it('serves embeddings and tokenize in the OpenAI and vLLM shapes', async () => {
    sim.configure({ embeddings: true });
    const e = await json('/v1/embeddings', { input: ['a', 'b'] });
    expect(e.body).toMatchObject({ object: 'list', model: 'sim-model', usage: { prompt_tokens: 4, completion_tokens: 0 } });
    expect(e.body.data.map((d: { index: number; embedding: number[] }) => [d.index, d.embedding.length])).toEqual([[0, 64], [1, 64]]);
    const t = await json('/tokenize', { prompt: 'Once upon a time' });
    expect(t.body).toEqual({ count: 5, max_model_len: 2048, tokens: expect.any(Array), token_strs: null });
    expect((await json('/detokenize', { tokens: t.body.tokens.slice(1) })).body).toEqual({ prompt: 'Once upon a time' });
  });
});
