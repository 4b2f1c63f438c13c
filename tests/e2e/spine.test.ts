import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { request } from 'undici';
import { expectedTokens, startSimulator, type SimulatorHandle } from '@infergate/sim';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recordingProxy.js';
import { startIngressProcess, startService, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * The spine, end to end: two ingress processes, two dispatcher processes,
 * two simulated llama.cpp engines, one real Redis. Clients are the official
 * `openai` package and plain HTTP.
 */

let redis: TestRedis;
const sims: SimulatorHandle[] = [];
const proxies: RecordingProxy[] = [];
const services: Service[] = [];
let ingresses: IngressProcess[] = [];

const MODEL = 'stories260K.gguf';

beforeAll(async () => {
  redis = await startTestRedis();
  const prefix = uniquePrefix();
  for (let i = 0; i < 2; i++) {
    const sim = await startSimulator({ kind: 'llamacpp', slots: 16, ttftMs: 10, itlMs: 2, tokens: 12, tokenStyle: 'utf8', embeddings: true });
    sims.push(sim);
    proxies.push(await startRecordingProxy(sim.url));
  }
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix };
  for (const [i, proxy] of proxies.entries()) {
    services.push(startService('dispatcher', { ...env, ENGINE_URL: proxy.url, DISPATCHER_ID: `d${i}`, STATUS_PORT: '0' }));
  }
  ingresses = await Promise.all([startIngressProcess(env), startIngressProcess(env)]);
  await Promise.all(ingresses.map((ing) => waitForBackends(ing.url, 2)));
}, 90_000);

afterAll(async () => {
  await Promise.all([...ingresses, ...services].map((s) => s.stop()));
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(sims.map((s) => s.close()));
  await redis?.stop();
});

function client(i = 0): OpenAI {
  return new OpenAI({ baseURL: `${ingresses[i]!.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

describe('the official openai client through infergate', () => {
  it('streams a chat completion completely and in order', async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      stream: true,
      max_tokens: 9,
      messages: [{ role: 'user', content: 'hi' }],
    });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(expectedTokens(9, 'utf8'));
    expect(finish).toBe('length');
  });

  it('answers a non-streaming chat completion', async () => {
    const res = await client(1).chat.completions.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(res.choices[0]!.message.content).toBe(expectedTokens(5, 'utf8'));
    expect(res.usage?.completion_tokens).toBe(5);
  });

  it('streams and answers text completions', async () => {
    const res = await client().completions.create({ model: MODEL, prompt: 'once upon', max_tokens: 4 });
    expect(res.choices[0]!.text).toBe(expectedTokens(4, 'utf8'));
    const stream = await client(1).completions.create({ model: MODEL, prompt: 'once upon', max_tokens: 6, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(expectedTokens(6, 'utf8'));
  });

  it('computes embeddings', async () => {
    const res = await client().embeddings.create({ model: MODEL, input: ['a', 'b'] });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]!.embedding.length).toBeGreaterThan(0);
  });

  it('carries 200 concurrent streams over two ingress nodes, every token exactly once and in order', async () => {
    const streams = Array.from({ length: 200 }, async (_, i) => {
      const n = 3 + (i % 10);
      const stream = await client(i % 2).chat.completions.create({
        model: MODEL,
        stream: true,
        max_tokens: n,
        messages: [{ role: 'user', content: `request ${i}` }],
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      return text === expectedTokens(n, 'utf8');
    });
    const results = await Promise.all(streams);
    expect(results.filter((ok) => !ok)).toHaveLength(0);
    const served = sims.map((s) => s.stats().completed);
    expect(Math.min(...served)).toBeGreaterThan(0);
  }, 60_000);
});

const LONG_PROMPT = 'word '.repeat(12_000);

const cases: Array<{ name: string; path: string; body: unknown }> = [
  { name: 'chat stream', path: '/v1/chat/completions', body: { model: MODEL, stream: true, max_tokens: 6, messages: [{ role: 'user', content: 'hi' }] } },
  { name: 'chat stream with usage', path: '/v1/chat/completions', body: { model: MODEL, stream: true, max_tokens: 3, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] } },
  { name: 'chat', path: '/v1/chat/completions', body: { model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] } },
  { name: 'completions stream', path: '/v1/completions', body: { model: MODEL, stream: true, max_tokens: 5, prompt: 'x' } },
  { name: 'native /completion stream (no [DONE])', path: '/completion', body: { stream: true, n_predict: 5, prompt: 'x' } },
  { name: 'native /completion', path: '/completion', body: { n_predict: 3, prompt: 'x' } },
  { name: 'embeddings', path: '/v1/embeddings', body: { model: MODEL, input: 'hello' } },
  { name: 'tokenize', path: '/tokenize', body: { content: 'hello world' } },
  { name: 'detokenize', path: '/detokenize', body: { tokens: [1, 2, 3] } },
  { name: 'apply-template', path: '/apply-template', body: { messages: [{ role: 'user', content: 'hi' }] } },
  { name: 'prompt too long (400)', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: LONG_PROMPT }] } },
  { name: 'prompt too long, stream (400)', path: '/v1/chat/completions', body: { model: MODEL, stream: true, messages: [{ role: 'user', content: LONG_PROMPT }] } },
  { name: 'missing messages (engine error)', path: '/v1/chat/completions', body: { model: MODEL } },
];

describe('byte-exact relay: what the client gets is what the engine sent', () => {
  it.each(cases)('$name', async ({ path, body }) => {
    const res = await request(`${ingresses[0]!.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const received = Buffer.from(await res.body.arrayBuffer());
    const rid = res.headers['x-request-id'] as string;
    expect(rid).toBeTruthy();
    const engine = proxies.map((p) => p.responses.get(rid)).find((r) => r !== undefined);
    expect(engine, 'the engine saw the request').toBeDefined();
    expect(res.statusCode).toBe(engine!.status);
    expect(res.headers['content-type']).toBe(engine!.headers['content-type']);
    expect(received.equals(engine!.body)).toBe(true);
    if (path === '/completion' && (body as { stream?: boolean }).stream) expect(received.includes('[DONE]')).toBe(false);
  });
});
