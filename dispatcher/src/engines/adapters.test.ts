import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCapture } from '../../../infra/sim/src/testing/capture.js';
import { EngineClient, type EngineResponse } from './engineClient.js';
import { createAdapter, detectEngineKind } from './index.js';
import type { EngineSnapshot } from './types.js';

/*
 * The adapters against what engines really answer: recorded llama-server
 * exchanges (infra/sim/fixtures/captures) and vLLM expositions as
 * vllm/v1/metrics/loggers.py (PrometheusStatLogger) writes them, served by a
 * stand-in for the HTTP layer.
 */

type Answer = EngineResponse<string> | Error;

const clients: EngineClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** An engine client whose GETs are answered from `routes` (mutable, so a test can change the engine between polls). */
function engine(routes: Record<string, Answer>): EngineClient & { asked: string[] } {
  const client = Object.assign(new EngineClient('http://127.0.0.1:9'), { asked: [] as string[] });
  client.get = async (path: string) => {
    client.asked.push(path);
    const answer = routes[path] ?? { status: 404, body: '{"detail":"Not Found"}' };
    if (answer instanceof Error) throw answer;
    return answer;
  };
  clients.push(client);
  return client;
}

function captured(name: string): EngineResponse<string> {
  const c = loadCapture(name);
  return { status: c.status, body: c.body.toString('utf8') };
}

const ok = (body: string): EngineResponse<string> => ({ status: 200, body });
const options = { probeTimeoutMs: 1_000, kvMaxUsage: 0.9 };

describe('llama.cpp adapter', () => {
  const llama = (routes: Record<string, Answer>, slots?: number) => {
    const client = engine(routes);
    return { client, adapter: createAdapter('llamacpp', client, { ...options, ...(slots === undefined ? {} : { slots }) }) };
  };

  it('reads slots from /props, busy slots from /slots and deferred requests from /metrics', async () => {
    const { adapter } = llama({
      '/health': captured('health-ready'),
      '/props': captured('props'),
      '/slots': captured('slots-busy-np4'),
      '/metrics': captured('metrics-busy-np4'),
    });
    expect(await adapter.snapshot()).toEqual({ ready: true, totalSlots: 4, busy: 4, waiting: 1, ours: { sure: 0, unsure: 0 } });
  });

  it('sees an idle engine after use as idle', async () => {
    const { adapter } = llama({
      '/health': captured('health-ready'),
      '/props': captured('props'),
      '/slots': captured('slots-idle-after-use'),
      '/metrics': captured('metrics-idle'),
    });
    expect(await adapter.snapshot()).toEqual({ ready: true, totalSlots: 4, busy: 0, waiting: 0, ours: { sure: 0, unsure: 0 } });
  });

  it('is not ready while the model loads (503 on every path)', async () => {
    const loading = captured('health-loading');
    const { adapter } = llama({ '/health': loading, '/props': loading, '/slots': loading, '/metrics': loading });
    expect(await adapter.snapshot()).toMatchObject({ ready: false, problem: 'loading' });
  });

  it('without --metrics, counts no deferral and stops asking for /metrics', async () => {
    const { adapter, client } = llama({
      '/health': captured('health-ready'),
      '/props': captured('props'),
      '/slots': captured('slots-busy-np4'),
      '/metrics': captured('variant-nometrics-metrics'),
    });
    expect(await adapter.snapshot()).toEqual({ ready: true, totalSlots: 4, busy: 4, waiting: 0, ours: { sure: 0, unsure: 0 } });
    await adapter.snapshot();
    expect(client.asked.filter((p) => p === '/metrics')).toHaveLength(1);
  });

  it('without the /slots endpoint (--no-slots), takes busy slots from requests_processing', async () => {
    const { adapter } = llama({
      '/health': captured('health-ready'),
      '/props': captured('props'),
      // shared/captures/llama-server/variant-noslots-slots.http
      '/slots': {
        status: 501,
        body: '{"error":{"code":501,"message":"This server does not support slots endpoint. Start it with `--slots`","type":"not_supported_error"}}',
      },
      '/metrics': captured('np2-8streams-metrics-during'),
    });
    expect(await adapter.snapshot()).toEqual({ ready: true, totalSlots: 4, busy: 2, waiting: 6, ours: { sure: 0, unsure: 0 } });
  });

  it('lets ENGINE_SLOTS override /props', async () => {
    const { adapter, client } = llama(
      { '/health': captured('health-ready'), '/props': captured('props'), '/slots': captured('slots-idle'), '/metrics': captured('metrics-idle') },
      2,
    );
    expect((await adapter.snapshot()).totalSlots).toBe(2);
    expect(client.asked).not.toContain('/props');
  });

  it('reads a router per model, from /models and each loaded model\'s /slots, without making it load any', async () => {
    const card = (id: string, value: string, aliases: string[] = []) => ({ id, aliases, object: 'model', owned_by: 'llamacpp', status: { value, args: [] } });
    const { adapter, client } = llama({
      '/health': ok('{"status":"ok"}'),
      '/props': ok(JSON.stringify({ role: 'router', max_instances: 4, model_path: 'none', default_generation_settings: { params: {}, n_ctx: 0 } })),
      '/models': ok(JSON.stringify({ object: 'list', data: [card('a', 'loaded', ['chat']), card('b', 'unloaded'), card('c', 'loading')] })),
      '/slots?model=a&autoload=false': ok(JSON.stringify([{ id: 0, is_processing: true }, { id: 1, is_processing: false }, { id: 2, is_processing: false }])),
    });
    const snap = await adapter.snapshot();
    // An unloaded or loading model counts one slot, the request that loads it.
    expect(snap).toMatchObject({ ready: true, totalSlots: 5, busy: 1, waiting: 0 });
    expect(Object.fromEntries(snap.models!)).toEqual({
      a: { id: 'a', status: 'loaded', totalSlots: 3, busy: 1 },
      chat: { id: 'a', status: 'loaded', totalSlots: 3, busy: 1 },
      b: { id: 'b', status: 'unloaded', totalSlots: undefined, busy: 0 },
      c: { id: 'c', status: 'loading', totalSlots: undefined, busy: 0 },
    });
    expect(client.asked.filter((p) => p.startsWith('/slots'))).toEqual(['/slots?model=a&autoload=false']);
    expect(await detectEngineKind(client, 1_000)).toBe('llamacpp');
  });

  it('lists model ids and their aliases', async () => {
    expect(await llama({ '/v1/models': captured('v1-models') }).adapter.models()).toEqual(['/srv/llm/gguf/models/stories260K.gguf']);
    const aliased = ok(JSON.stringify({ object: 'list', data: [{ id: 'model.gguf', aliases: ['model.gguf', 'chat'], owned_by: 'llamacpp' }] }));
    expect(await llama({ '/v1/models': aliased }).adapter.models()).toEqual(['model.gguf', 'chat']);
  });
});

// A V1 scrape of one engine: prometheus_client text from vllm/v1/metrics/loggers.py,
// every series labelled with model_name and engine.
const V1 = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen3-8B"} 7.0
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen3-8B"} 2.0
vllm:num_requests_waiting_by_reason{engine="0",model_name="Qwen/Qwen3-8B",reason="capacity"} 2.0
vllm:num_requests_waiting_by_reason{engine="0",model_name="Qwen/Qwen3-8B",reason="deferred"} 0.0
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen3-8B"} 0.83
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="Qwen/Qwen3-8B"} 4.0
vllm:cache_config_info{block_size="16",enable_prefix_caching="True",engine="0",gpu_memory_utilization="0.9",kv_cache_max_concurrency="12.4",kv_cache_size_tokens="406000",num_gpu_blocks="25375"} 1.0
`;

// The same server with data parallelism 2: one series per engine rank.
const DP2 = `vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 4.0
vllm:num_requests_waiting{engine="0",model_name="m"} 0.0
vllm:num_requests_waiting{engine="1",model_name="m"} 1.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.6
vllm:num_preemptions_total{engine="0",model_name="m"} 1.0
vllm:num_preemptions_total{engine="1",model_name="m"} 2.0
`;

// A V0-era (≤ 0.8) scrape: gpu_cache_usage_perc, no engine label, swapped requests.
const V0 = `vllm:num_requests_running{model_name="m"} 5.0
vllm:num_requests_waiting{model_name="m"} 1.0
vllm:num_requests_swapped{model_name="m"} 2.0
vllm:gpu_cache_usage_perc{model_name="m"} 0.92
vllm:num_preemptions_total{model_name="m"} 3.0
`;

describe('vLLM adapter', () => {
  const vllm = (routes: Record<string, Answer>) => createAdapter('vllm', engine(routes), { ...options, slots: 8 });

  it('reads running, waiting, KV usage and preemptions; slots come from configuration', async () => {
    expect(await vllm({ '/health': ok(''), '/metrics': ok(V1) }).snapshot()).toEqual({
      ready: true,
      totalSlots: 8,
      busy: 7,
      waiting: 2,
      kvUsage: 0.83,
      preemptions: 4,
      ours: { sure: 0, unsure: 0 },
    });
  });

  it('with data parallelism, adds up requests but takes the fullest KV cache', async () => {
    expect(await vllm({ '/health': ok(''), '/metrics': ok(DP2) }).snapshot()).toMatchObject({ busy: 7, waiting: 1, kvUsage: 0.6, preemptions: 3 });
  });

  it('reads the pre-0.9 names: gpu_cache_usage_perc, and swapped requests as waiting', async () => {
    expect(await vllm({ '/health': ok(''), '/metrics': ok(V0) }).snapshot()).toMatchObject({ busy: 5, waiting: 3, kvUsage: 0.92, preemptions: 3 });
  });

  it('is not ready when /health fails (engine dead) or the connection is refused (loading)', async () => {
    expect(await vllm({ '/health': { status: 503, body: '' } }).snapshot()).toMatchObject({ ready: false, problem: 'health 503' });
    const port = await closedPort();
    const refused = createAdapter('vllm', engineAtPort(port), { ...options, slots: 8 });
    await expect(refused.snapshot()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('with --disable-log-stats sees no load and no KV figure', async () => {
    expect(await vllm({ '/health': ok(''), '/metrics': ok('# no vllm series\nhttp_requests_total{handler="/v1/models"} 3.0\n') }).snapshot()).toEqual({
      ready: true,
      totalSlots: 8,
      busy: 0,
      waiting: 0,
      ours: { sure: 0, unsure: 0 },
    });
  });

  it('is under pressure above the KV threshold and while preemptions rise', () => {
    const adapter = vllm({});
    const at = (kvUsage: number, preemptions: number): EngineSnapshot => ({ ready: true, totalSlots: 8, busy: 1, waiting: 0, kvUsage, preemptions });
    expect(adapter.pressure(at(0.95, 0), undefined)).toBe('kv cache 95% ≥ 90%');
    expect(adapter.pressure(at(0.9, 0), undefined)).toBe('kv cache 90% ≥ 90%');
    expect(adapter.pressure(at(0.5, 0), undefined)).toBeUndefined();
    expect(adapter.pressure(at(0.5, 3), at(0.5, 2))).toBe('preemptions rising');
    expect(adapter.pressure(at(0.5, 3), at(0.5, 3))).toBeUndefined();
    expect(adapter.pressure(at(0.5, 3), undefined)).toBeUndefined();
  });

  it('lists its served model names', async () => {
    const cards = ok(JSON.stringify({ object: 'list', data: [{ id: 'a', owned_by: 'vllm' }, { id: 'b', owned_by: 'vllm' }] }));
    expect(await vllm({ '/v1/models': cards }).models()).toEqual(['a', 'b']);
  });
});

describe('engine kind detection', () => {
  it('knows llama.cpp by /props total_slots', async () => {
    expect(await detectEngineKind(engine({ '/props': captured('props') }), 1_000)).toBe('llamacpp');
  });

  it('cannot tell while llama.cpp loads', async () => {
    expect(await detectEngineKind(engine({ '/props': captured('health-loading') }), 1_000)).toBeUndefined();
  });

  it('knows vLLM by its model cards', async () => {
    const cards = ok(JSON.stringify({ object: 'list', data: [{ id: 'm', object: 'model', owned_by: 'vllm' }] }));
    expect(await detectEngineKind(engine({ '/v1/models': cards }), 1_000)).toBe('vllm');
  });

  it('cannot tell while nothing listens', async () => {
    expect(await detectEngineKind(engineAtPort(await closedPort()), 1_000)).toBeUndefined();
  });
});

function engineAtPort(port: number): EngineClient {
  const client = new EngineClient(`http://127.0.0.1:${port}`);
  clients.push(client);
  return client;
}

/** A loopback port nothing listens on: taken, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
