import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { expectedTokens, startSimulator, type SimulatorHandle } from '@infergate/sim';
import { chat, health, startDispatcher, STARTUP_MS, waitForBackend } from '../support/gate.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, waitFor, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * (f) Model routing and (g) the ingress's health surface, over two engines
 * that serve different models: a llama.cpp engine (alpha, with an alias of
 * its own and one from MODEL_ALIASES) and a vLLM engine with two served
 * names (beta, the ingress's DEFAULT_MODEL). At the end alpha's engine dies,
 * then its dispatcher, leaving alpha a model the fleet knows but nobody serves.
 */

const TTL_SECONDS = 3;
const QUEUE_WAIT_SECONDS = 2;

let redis: TestRedis;
let ingress: IngressProcess;
let alpha: SimulatorHandle;
let beta: SimulatorHandle;
const dispatchers: Service[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), HEARTBEAT_TTL_SECONDS: String(TTL_SECONDS) };
  const engine = { slots: 6, ttftMs: 5, itlMs: 2, tokens: 8 };
  alpha = await startSimulator({ kind: 'llamacpp', ...engine, modelId: 'alpha', extraModelNames: ['alpha-q4'] });
  beta = await startSimulator({ kind: 'vllm', ...engine, modelId: 'beta', extraModelNames: ['beta-chat'] });
  ingress = await startIngressProcess({ ...env, DEFAULT_MODEL: 'beta', QUEUE_WAIT_TIMEOUT_SECONDS: String(QUEUE_WAIT_SECONDS) });
  dispatchers.push(
    startDispatcher(env, alpha.url, 'd-alpha', { MODEL_ALIASES: 'gpt-4o-mini' }),
    startDispatcher(env, beta.url, 'd-beta', { ENGINE_SLOTS: '6' }),
  );
  await waitForBackends(ingress.url, 2, STARTUP_MS);
}, 2 * STARTUP_MS);

afterAll(async () => {
  await Promise.all([ingress, ...dispatchers].filter(Boolean).map((s) => s.stop()));
  await Promise.all([alpha, beta].filter(Boolean).map((s) => s.close()));
  await redis?.stop();
});

describe('(f) model routing', () => {
  it('sends a model only to the engine that serves it, under any of its names', async () => {
    const before = [alpha.stats().completed, beta.stats().completed];
    const asks = ['alpha', 'alpha-q4', 'gpt-4o-mini', 'beta', 'beta-chat', undefined].flatMap((m) => Array<string | undefined>(4).fill(m));
    const answers = await Promise.all(asks.map((m) => chat(ingress.url, m, 3)));
    expect(answers.filter((a) => a.status !== 200 || a.content !== expectedTokens(3)).map((a) => a.body)).toEqual([]);
    // alpha's three names went to alpha; beta, beta-chat and no model at all (DEFAULT_MODEL) to beta.
    expect([alpha.stats().completed - before[0]!, beta.stats().completed - before[1]!]).toEqual([12, 12]);
  });

  it('shows the status line of a stream whose engine answers before its first token (vLLM), without waiting for that token', async () => {
    const ttftMs = 800;
    beta.configure({ ttftMs });
    try {
      const started = performance.now();
      const res = await request(`${ingress.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'beta', stream: true, max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const headersAt = performance.now() - started;
      let firstBytesAt = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) if (firstBytesAt === 0 && chunk.length > 0) firstBytesAt = performance.now() - started;
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(firstBytesAt).toBeGreaterThan(ttftMs);
      expect(headersAt).toBeLessThan(firstBytesAt - ttftMs / 2);
    } finally {
      beta.configure({ ttftMs: 5 });
    }
  });

  it('answers an unknown model at once with an OpenAI-style 404', async () => {
    const answer = await chat(ingress.url, 'no-such-model', 3);
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({
      error: { message: "The model 'no-such-model' does not exist.", type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
    });
    expect(answer.ms).toBeLessThan(500);
  });
});

describe('(g) health', () => {
  it('/health has the old proxy shape and lists every engine', async () => {
    const h = await health(ingress.url);
    expect(h).toMatchObject({ httpStatus: 200, status: 'ok', total_backends: 2 });
    expect([...h.available_backends].sort()).toEqual([alpha.url, beta.url].sort());
    expect(Math.abs(h.timestamp - Date.now() / 1000)).toBeLessThan(5);
    const byUrl = new Map(h.details.map((d) => [d.backend, d]));
    expect(byUrl.get(alpha.url)).toMatchObject({ dispatcher: 'd-alpha', engine_kind: 'llamacpp', status: 'ok', ready: true, slots_total: 6 });
    expect(byUrl.get(beta.url)).toMatchObject({ dispatcher: 'd-beta', engine_kind: 'vllm', status: 'ok', ready: true, slots_total: 6 });
    expect([...byUrl.get(alpha.url)!.models].sort()).toEqual(['alpha', 'alpha-q4', 'gpt-4o-mini']);
    expect([...byUrl.get(beta.url)!.models].sort()).toEqual(['beta', 'beta-chat']);
  });

  it('/livez, /readyz and an aggregated /v1/models', async () => {
    expect(await (await fetch(`${ingress.url}/livez`)).json()).toEqual({ status: 'ok' });
    const readyz = await fetch(`${ingress.url}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toMatchObject({ status: 'ready' });
    const models = (await (await fetch(`${ingress.url}/v1/models`)).json()) as { object: string; data: Array<{ id: string; object: string; owned_by: string }> };
    expect(models.object).toBe('list');
    const owners = Object.fromEntries(models.data.map((m) => [m.id, m.owned_by]));
    expect(owners).toEqual({ alpha: 'llamacpp', 'alpha-q4': 'llamacpp', 'gpt-4o-mini': 'llamacpp', beta: 'vllm', 'beta-chat': 'vllm' });
  });

  it('shows a dead engine, then its killed dispatcher, within one heartbeat TTL', async () => {
    await alpha.close();
    let since = Date.now();
    const dead = await waitForBackend(ingress.url, alpha.url, (d) => !d.ready, 'engine down');
    expect(Date.now() - since).toBeLessThan(TTL_SECONDS * 1000);
    expect(dead).toMatchObject({ status: 'unavailable', last_error: 'connection refused' });
    const degraded = await health(ingress.url);
    expect(degraded).toMatchObject({ httpStatus: 200, status: 'degraded', total_backends: 2, available_backends: [beta.url] });

    dispatchers[0]!.child.kill('SIGKILL');
    since = Date.now();
    await waitFor(async () => (await health(ingress.url)).total_backends === 1, 10_000, 'the killed dispatcher to disappear');
    // Its entry lapses one TTL after its last heartbeat, which came before the kill; plus one step of this polling loop.
    expect(Date.now() - since).toBeLessThan(TTL_SECONDS * 1000 + 200);
  });
});

describe('(f) a known model nobody serves', () => {
  it('waits QUEUE_WAIT_TIMEOUT_SECONDS, then answers 503 with Retry-After', async () => {
    const answer = await chat(ingress.url, 'alpha', 3);
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((answer.body as { error: { code: string } }).error.code).toBe('queue_timeout');
    expect(answer.ms).toBeGreaterThanOrEqual(QUEUE_WAIT_SECONDS * 1000 - 50);
    expect(answer.ms).toBeLessThan(QUEUE_WAIT_SECONDS * 1000 + 2_000);
  });
});
