/*
 * The engines' prompt caches as a client sees them: a later turn that
 * repeats the conversation so far is answered with most of its prompt
 * reported cached and without paying that part's prefill; llama.cpp picks
 * the slot that holds the prompt and falls back to its host LRU prompt
 * cache; vLLM reuses 16-token blocks across requests and counts them in
 * /metrics.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle, type StartOptions } from './simulator.js';
import { call, eventually, fetchRaw } from './testing/client.js';
import { eventsOf } from './testing/replay.js';

interface Message {
  readonly role: string;
  readonly content: string;
}

/** The fields these tests read, from whichever answer format carries them. */
interface Body {
  readonly usage: { readonly prompt_tokens: number; readonly prompt_tokens_details: { readonly cached_tokens: number } | null };
  readonly timings: { readonly cache_n: number; readonly prompt_n: number; readonly prompt_ms: number };
  readonly choices: readonly { readonly message: { readonly content: string } }[];
  /** Native /completion only. */
  readonly id_slot: number;
  readonly tokens_evaluated: number;
}

interface Answer {
  readonly body: Body;
  readonly ms: number;
}

/** About `words` words of text no other call of `prose` with another seed shares beyond its first letter. */
function prose(seed: string, words: number): string {
  return Array.from({ length: words }, (_, i) => `${seed}${i}`).join(' ');
}

let sims: SimulatorHandle[] = [];
afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
});

async function sim(options: StartOptions): Promise<SimulatorHandle> {
  const started = await startSimulator({ ttftMs: 1, itlMs: 1, tokens: 8, ...options });
  sims.push(started);
  return started;
}

async function post(s: SimulatorHandle, path: string, body: object): Promise<Answer> {
  const start = performance.now();
  const response = await fetchRaw(s.url, path, { body });
  expect(response.status).toBe(200);
  return { body: JSON.parse(response.body), ms: performance.now() - start };
}

const chat = (s: SimulatorHandle, messages: readonly Message[]) => post(s, '/v1/chat/completions', { messages });
const complete = (s: SimulatorHandle, prompt: string) => post(s, '/completion', { prompt });
const metric = async (s: SimulatorHandle, name: string) =>
  Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec((await fetchRaw(s.url, '/metrics')).body)?.[1]);

const firstTurn: Message[] = [
  { role: 'system', content: prose('rule', 120) },
  { role: 'user', content: 'Tell me a story.' },
];
const secondTurn = (reply: string): Message[] => [...firstTurn, { role: 'assistant', content: reply }, { role: 'user', content: 'And then?' }];

describe('llama.cpp', () => {
  it('a second turn finds the first turn in its slot: cache_n covers it and its prefill is not paid again', async () => {
    const s = await sim({ kind: 'llamacpp', slots: 2, prefillMsPerToken: 1 });
    const first = await chat(s, firstTurn);
    const firstPrompt = first.body.usage.prompt_tokens;
    expect(first.body.timings).toMatchObject({ cache_n: 0, prompt_n: firstPrompt });
    expect(first.body.usage.prompt_tokens_details).toEqual({ cached_tokens: 0 });
    expect(first.body.timings.prompt_ms).toBeGreaterThanOrEqual(firstPrompt);

    const second = await chat(s, secondTurn(first.body.choices[0]!.message.content));
    const { prompt_tokens: secondPrompt, prompt_tokens_details: details } = second.body.usage;
    const { cache_n: cached, prompt_n: processed } = second.body.timings;
    // The slot holds the first prompt and the answer decoded after it, which the second turn repeats.
    expect(cached).toBeGreaterThanOrEqual(firstPrompt);
    expect(cached + processed).toBe(secondPrompt);
    expect(processed).toBeLessThan(secondPrompt - firstPrompt + 2);
    expect(details).toEqual({ cached_tokens: cached });
    expect(second.body.timings.prompt_ms).toBeLessThan(first.body.timings.prompt_ms - firstPrompt / 2);
    expect(second.ms).toBeLessThan(first.ms - firstPrompt / 2);
    expect(await metric(s, 'llamacpp:prompt_tokens_cached_total')).toBe(cached);
    expect(await metric(s, 'llamacpp:prompt_tokens_total')).toBe(firstPrompt + processed);
  });

  it('the same prompt again reports all but its last token cached, and a stream reports it in its last chunk', async () => {
    const s = await sim({ kind: 'llamacpp', slots: 1 });
    const prompt = prose('same', 40);
    const first = await complete(s, prompt);
    const response = await fetchRaw(s.url, '/v1/chat/completions', { body: { messages: [{ role: 'user', content: prompt }], stream: true } });
    const again = await fetchRaw(s.url, '/v1/chat/completions', { body: { messages: [{ role: 'user', content: prompt }], stream: true } });
    const last = (body: string) => eventsOf(body).filter((e) => !e.done).at(-1)!.json as unknown as Body;
    expect(first.body.timings.cache_n).toBe(0);
    const total = last(response.body).timings.cache_n + last(response.body).timings.prompt_n;
    expect(last(again.body).timings).toMatchObject({ cache_n: total - 1, prompt_n: 1 });
  });

  it('a different prompt reports nothing cached: it goes to the unused slot', async () => {
    const s = await sim({ kind: 'llamacpp', slots: 2 });
    const a = await complete(s, prose('alpha', 60));
    const b = await complete(s, prose('beta', 60));
    expect([a.body.timings.cache_n, b.body.timings.cache_n]).toEqual([0, 0]);
    expect(b.body.id_slot).not.toBe(a.body.id_slot);
  });

  it('picks the free slot that holds the prompt over the least recently used one', async () => {
    const s = await sim({ kind: 'llamacpp', slots: 2 });
    const a = await complete(s, prose('alpha', 60));
    const b = await complete(s, prose('beta', 60));
    // The slot that ran `a` is now the least recently used, so only the prompt match sends this to b's slot.
    const bAgain = await complete(s, `${prose('beta', 60)} more`);
    expect(bAgain.body.id_slot).toBe(b.body.id_slot);
    expect(bAgain.body.id_slot).not.toBe(a.body.id_slot);
    expect(bAgain.body.timings.cache_n).toBeGreaterThan(b.body.tokens_evaluated - 2);

    s.configure({ slotPromptSimilarity: 0, promptCacheTokens: 0 });
    const bElsewhere = await complete(s, `${prose('beta', 60)} again`);
    // Without the similarity rule the least recently used slot (a's) runs it, where only BOS matches.
    expect(bElsewhere.body.id_slot).toBe(a.body.id_slot);
    expect(bElsewhere.body.timings.cache_n).toBe(1);
  });

  it('keeps replaced prompts in the host prompt cache, least recently saved evicted first', async () => {
    const s = await sim({ kind: 'llamacpp', slots: 1, promptCacheTokens: 250 });
    const prompts = ['a', 'b', 'c', 'd'].map((seed) => prose(seed, 100));
    const sizes: number[] = [];
    for (const p of prompts) sizes.push((await complete(s, p)).body.tokens_evaluated);
    expect(sizes.every((n) => n > 90 && n < 120)).toBe(true);
    // The slot holds d; the host cache kept b and c, and lost a when c pushed it over 250 tokens.
    const b = await complete(s, prompts[1]!);
    expect(b.body.timings.cache_n).toBe(sizes[1]! - 1);
    const a = await complete(s, prompts[0]!);
    expect(a.body.timings.cache_n).toBe(1);
  });

  it('/slots shows a running task\'s cached and processed prompt tokens', async () => {
    const s = await sim({ kind: 'llamacpp', slots: 1 });
    const prompt = prose('slot', 40);
    const first = await complete(s, prompt);
    s.configure({ itlMs: 50, tokens: 100 });
    const running = call(s.url, '/completion', { body: { prompt, stream: true } });
    await eventually(() => s.stats().processing === 1);
    const [slot] = JSON.parse((await fetchRaw(s.url, '/slots')).body) as { n_prompt_tokens_processed: number; n_prompt_tokens_cache: number }[];
    running.abort();
    expect(slot).toMatchObject({ n_prompt_tokens_cache: first.body.tokens_evaluated - 1, n_prompt_tokens_processed: 1 });
  });

  it('a restarted engine starts with an empty cache', async () => {
    const first = await sim({ kind: 'llamacpp', slots: 1 });
    const prompt = prose('kept', 40);
    await complete(first, prompt);
    expect((await complete(first, prompt)).body.timings.cache_n).toBeGreaterThan(0);
    await first.close();
    const restarted = await sim({ kind: 'llamacpp', slots: 1, port: first.port });
    expect((await complete(restarted, prompt)).body.timings.cache_n).toBe(0);
  });
});

describe('vLLM', () => {
  it('reuses whole 16-token blocks across requests, reports them with --enable-prompt-tokens-details and counts them', async () => {
    const s = await sim({ kind: 'vllm', slots: 4, prefillMsPerToken: 1, promptTokensDetails: true });
    const first = await chat(s, firstTurn);
    const firstPrompt = first.body.usage.prompt_tokens;
    expect(first.body.usage.prompt_tokens_details).toBeNull();

    const second = await chat(s, secondTurn(first.body.choices[0]!.message.content));
    const cached = second.body.usage.prompt_tokens_details!.cached_tokens;
    expect(cached % 16).toBe(0);
    expect(cached).toBeGreaterThan(firstPrompt - 16);
    expect(second.ms).toBeLessThan(first.ms - firstPrompt / 2);

    // Another conversation with the same system prompt shares its blocks, whichever request computed them.
    const other = await chat(s, [firstTurn[0]!, { role: 'user', content: 'Something else entirely.' }]);
    const shared = other.body.usage.prompt_tokens_details!.cached_tokens;
    expect(shared % 16).toBe(0);
    expect(shared).toBeGreaterThan(firstPrompt - 32);

    const queries = firstPrompt + second.body.usage.prompt_tokens + other.body.usage.prompt_tokens;
    expect(await metric(s, 'vllm:prefix_cache_queries_total')).toBe(queries);
    expect(await metric(s, 'vllm:prefix_cache_hits_total')).toBe(cached + shared);
    expect(await metric(s, 'vllm:prompt_tokens_cached_total')).toBe(cached + shared);
  });

  it('without prefix caching nothing is reused', async () => {
    const s = await sim({ kind: 'vllm', prefixCaching: false, promptTokensDetails: true });
    await chat(s, firstTurn);
    const again = await chat(s, firstTurn);
    expect(again.body.usage.prompt_tokens_details).toBeNull();
    expect(await metric(s, 'vllm:prefix_cache_hits_total')).toBe(0);
    expect((await fetchRaw(s.url, '/metrics')).body).toContain('enable_prefix_caching="False"');
  });
});
