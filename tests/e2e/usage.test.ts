import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '@infergate/cli';
import type { UsageRecord } from '@infergate/shared';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { waitFor, type IngressProcess } from '../support/services.js';

/*
 * Token accounting end to end: two ingress processes on one Redis, one
 * dispatcher per simulated engine (llama.cpp, which reports usage and
 * timings, and vLLM, which reports usage in a stream only when asked), the
 * openai client as the caller. The expected figures are the engine's own,
 * read from the answers the client got.
 */

const KEYS = { alice: 'sk-usage-alice-0123456789', bob: 'sk-usage-bob-0123456789ab', capped: 'sk-usage-capped-0123456789', quitter: 'sk-usage-quitter-012345678', solo: 'sk-usage-solo-0123456789ab' };
const ADMIN_KEY = 'usage-admin-key-0123456789';
/** Tokens per minute of `capped`: one answer of BULK_TOKENS puts it a few seconds over. */
const CAPPED_TPM = 600;
const BULK_TOKENS = 620;

let fleet: TestFleet;
let a: IngressProcess;
let b: IngressProcess;

beforeAll(async () => {
  fleet = await startTestFleet({
    sims: [
      { kind: 'llamacpp', modelId: 'llama', slots: 4, ttftMs: 5, itlMs: 1, tokens: 12 },
      { kind: 'vllm', modelId: 'vllm', slots: 4, ttftMs: 5, itlMs: 1, tokens: 9, promptTokensDetails: true },
      { kind: 'llamacpp', modelId: 'bulk', slots: 4, ttftMs: 5, itlMs: 0, tokens: 5000 },
      { kind: 'llamacpp', modelId: 'long', slots: 2, ttftMs: 5, itlMs: 10, tokens: 2000 },
      // vLLM sends a stream's head before its first token: here 30 s before.
      { kind: 'vllm', modelId: 'late', slots: 2, ttftMs: 30_000, itlMs: 1, tokens: 4 },
    ],
    // vLLM does not say how many sequences it runs at once.
    dispatcherEnv: { ENGINE_SLOTS: '4' },
    ingresses: 2,
    ingressEnv: {
      API_KEYS: Object.entries(KEYS).map(([name, key]) => `${name}:${key}`).join(','),
      KEY_POLICIES: JSON.stringify({ capped: { tpm: CAPPED_TPM }, solo: { concurrent: 1 } }),
      ADMIN_API_KEY: ADMIN_KEY,
    },
  });
  [a, b] = fleet.ingresses as [IngressProcess, IngressProcess];
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

const client = (ingress: IngressProcess, key: string) => new OpenAI({ baseURL: `${ingress.url}/v1`, apiKey: key, maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'Tell me a story about a lighthouse keeper' }];

interface Figures {
  requests: number;
  prompt_tokens: number;
  cached_prompt_tokens: number;
  completion_tokens: number;
}
const none = (): Figures => ({ requests: 0, prompt_tokens: 0, cached_prompt_tokens: 0, completion_tokens: 0 });

function add(f: Figures, prompt: number, cached: number, completion: number): void {
  f.requests++;
  f.prompt_tokens += prompt;
  f.cached_prompt_tokens += cached;
  f.completion_tokens += completion;
}

type Usage = { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number } | null };
type Timings = { prompt_n: number; cache_n: number; predicted_n: number };
const fromUsage = (f: Figures, u: Usage) => add(f, u.prompt_tokens, u.prompt_tokens_details?.cached_tokens ?? 0, u.completion_tokens);
// llama.cpp's prompt_n counts the prompt tokens it evaluated, cache_n those it reused.
const fromTimings = (f: Figures, t: Timings) => add(f, t.prompt_n + t.cache_n, t.cache_n, t.predicted_n);

async function usageOf(ingress: IngressProcess, key: string, query = ''): Promise<{ status: number; records: UsageRecord[] }> {
  const res = await fetch(`${ingress.url}/v1/usage${query}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, records: (await res.json()) as UsageRecord[] };
}

async function adminUsage(query: string): Promise<UsageRecord[]> {
  const res = await fetch(`${a.url}/admin/api/usage${query}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as UsageRecord[];
}

const figuresOf = (r: UsageRecord | undefined): Figures | undefined =>
  r && { requests: r.requests, prompt_tokens: r.prompt_tokens, cached_prompt_tokens: r.cached_prompt_tokens, completion_tokens: r.completion_tokens };

describe('usage accounting', () => {
  const alice = { llama: none(), vllm: none() };
  let bobContentChunks = 0;

  it('records per key and model exactly the usage and timings the engines reported, stream and non-stream, through either node', async () => {
    for (const [i, ingress] of [a, b, a].entries()) {
      const c = client(ingress, KEYS.alice);
      const whole = await c.chat.completions.create({ model: 'llama', messages, max_tokens: 8 + i });
      fromUsage(alice.llama, whole.usage!);

      // Without include_usage llama.cpp still ends every stream with its timings.
      let timings: Timings | undefined;
      for await (const chunk of await c.chat.completions.create({ model: 'llama', messages, stream: true })) {
        timings = (chunk as unknown as { timings?: Timings }).timings ?? timings;
      }
      fromTimings(alice.llama, timings!);

      const completion = await c.completions.create({ model: 'llama', prompt: 'Once upon a time', max_tokens: 5 });
      fromUsage(alice.llama, completion.usage!);

      const vWhole = await c.chat.completions.create({ model: 'vllm', messages, max_tokens: 6 });
      fromUsage(alice.vllm, vWhole.usage!);
      let usage: Usage | undefined;
      for await (const chunk of await c.chat.completions.create({ model: 'vllm', messages, stream: true, stream_options: { include_usage: true } })) {
        usage = chunk.usage ?? usage;
      }
      fromUsage(alice.vllm, usage!);
    }
    expect(alice.llama.cached_prompt_tokens, 'the same prompt again hits the cache').toBeGreaterThan(0);

    const own = await waitFor(async () => {
      const { records } = await usageOf(b, KEYS.alice);
      const llama = records.find((r) => r.model === 'llama');
      const vllm = records.find((r) => r.model === 'vllm');
      return llama?.requests === alice.llama.requests && vllm?.requests === alice.vllm.requests ? records : undefined;
    }, 20_000, 'alice’s records');
    expect(figuresOf(own.find((r) => r.model === 'llama'))).toEqual(alice.llama);
    expect(figuresOf(own.find((r) => r.model === 'vllm'))).toEqual(alice.vllm);
    expect(own.every((r) => r.key === 'key:alice' && !r.estimated && r.day === new Date().toISOString().slice(0, 10))).toBe(true);
  }, 60_000);

  it('counts the completion chunks of a vLLM stream that reported nothing, marked estimated, without adding stream_options', async () => {
    const c = client(a, KEYS.bob);
    for (let i = 0; i < 2; i++) {
      for await (const chunk of await c.chat.completions.create({ model: 'vllm', messages, stream: true, max_tokens: 7 })) {
        expect(chunk.usage ?? undefined, 'the engine was not asked for usage').toBeUndefined();
        if (chunk.choices[0]?.delta.content) bobContentChunks++;
      }
    }
    const [record] = await waitFor(async () => {
      const { records } = await usageOf(a, KEYS.bob);
      return records[0]?.requests === 2 ? records : undefined;
    }, 20_000, 'bob’s record');
    expect(record).toMatchObject({ key: 'key:bob', model: 'vllm', requests: 2, completion_tokens: bobContentChunks, estimated: true });
  }, 30_000);

  it('shows a key its own usage and nothing of another key’s, whatever it asks for; the admin API and the CLI show every key, the same records', async () => {
    for (const query of ['', '?key=key:bob', '?key=bob']) {
      const { status, records } = await usageOf(b, KEYS.alice, query);
      expect(status).toBe(200);
      expect(records.length).toBeGreaterThan(0);
      expect(records.every((r) => r.key === 'key:alice'), query).toBe(true);
    }
    expect((await usageOf(a, KEYS.bob)).records.every((r) => r.key === 'key:bob')).toBe(true);
    expect((await usageOf(a, 'sk-not-a-key-0123456789')).status).toBe(401);

    const everyone = await adminUsage('');
    expect(new Set(everyone.map((r) => r.key))).toEqual(new Set(['key:alice', 'key:bob']));
    expect(await adminUsage('?key=alice')).toEqual((await usageOf(a, KEYS.alice)).records);
    expect(await adminUsage('?model=vllm&key=key:bob')).toEqual((await usageOf(a, KEYS.bob)).records);

    let out = '';
    const code = await runCli(['usage', '--json', '--key', 'alice'], fleet.env, { out: (t) => (out += t), err: (t) => (out += t) });
    expect(code, out).toBe(0);
    expect(JSON.parse(out)).toEqual(await adminUsage('?key=alice'));
    const bad = await fetch(`${a.url}/admin/api/usage?since=yesterday`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_parameter', param: 'since' } });
  }, 30_000);

  it('charges a key for the tokens its client was sent when it leaves a stream before the end', async () => {
    // Leaving just before the end must not make a long answer free against the key's token limits.
    const c = client(b, KEYS.quitter);
    let received = 0;
    for await (const chunk of await c.chat.completions.create({ model: 'long', messages, stream: true, max_tokens: 2000 })) {
      if (chunk.choices[0]?.delta.content) received++;
      if (received === 30) break;
    }
    const [record] = await waitFor(async () => {
      const { records } = await usageOf(a, KEYS.quitter);
      return records[0]?.requests === 1 ? records : undefined;
    }, 20_000, 'the quitter’s record');
    expect(record).toMatchObject({ key: 'key:quitter', model: 'long', requests: 1, estimated: true });
    // What the engine made before the cancel reached it: at least what the client read, far from the whole answer.
    expect(record!.completion_tokens).toBeGreaterThanOrEqual(received);
    expect(record!.completion_tokens).toBeLessThan(2000);
  }, 30_000);

  it('frees the key of a client that leaves after the head but before any token at once, not at the charge wait', async () => {
    const abort = new AbortController();
    const res = await fetch(`${a.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.solo}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'late', messages, stream: true }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const left = performance.now();
    abort.abort();
    // Its one concurrent request is free again once the stopped job's end (no tokens) reaches the ingress:
    // far sooner than the 3 s the relay would wait for a dispatcher that sends none.
    const next = await waitFor(async () => {
      const r = await fetch(`${b.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEYS.solo}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama', messages, max_tokens: 1 }),
      });
      return r.status === 200 ? r : (await r.body?.cancel(), undefined);
    }, 10_000, 'the solo key served again');
    expect(performance.now() - left).toBeLessThan(2_500);
    await next.text();
  }, 30_000);

  it('counts tokens in Prometheus by model and kind', async () => {
    const text = await (await fetch(`${a.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text();
    expect(text).toMatch(/infergate_tokens_total\{model="llama",kind="completion"\} \d+/);
    expect(text).not.toMatch(/infergate_tokens_total\{[^}]*key=/);
  });
});

describe('token limits', () => {
  it('refuses a key over its tokens per minute on either node with 429 and Retry-After, lets the running request finish, serves it again after', async () => {
    const first = await client(a, KEYS.capped).chat.completions.create({ model: 'bulk', messages, max_tokens: BULK_TOKENS });
    expect(first.usage!.completion_tokens, 'the request that crossed the limit was served whole').toBe(BULK_TOKENS);
    expect(first.usage!.prompt_tokens + first.usage!.completion_tokens).toBeGreaterThan(CAPPED_TPM);

    // Charged when its record lands: wait for the refusal on the other node.
    const refusal = await waitFor(async () => {
      const res = await fetch(`${b.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEYS.capped}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'bulk', messages, max_tokens: 1 }),
      });
      return res.status === 429 ? res : undefined;
    }, 10_000, 'the 429 on node b');
    const retryAfter = Number(refusal.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    const body = (await refusal.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error).toMatchObject({ code: 'token_rate_limited', type: 'rate_limit_error' });
    expect(body.error.message).toMatch(/600 tokens per minute \(tpm\)/);

    const onA = await client(a, KEYS.capped).chat.completions.create({ model: 'bulk', messages, max_tokens: 1 }).catch((err: unknown) => err);
    expect(onA).toBeInstanceOf(OpenAI.RateLimitError);
    // Another key is not held back by this one's limit.
    await client(b, KEYS.bob).chat.completions.create({ model: 'bulk', messages, max_tokens: 1 });

    const served = await waitFor(
      () => client(b, KEYS.capped).chat.completions.create({ model: 'bulk', messages, max_tokens: 1 }).catch(() => undefined),
      (retryAfter + 10) * 1000,
      'capped served again',
    );
    expect(served.usage!.completion_tokens).toBe(1);
  }, 60_000);
});
