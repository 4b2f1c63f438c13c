/*
 * The llama.cpp personality against recorded llama-server exchanges: each
 * captured request is replayed and the answer compared — bytes where the
 * engine's answer is deterministic, otherwise status, headers, SSE event
 * sequence and the JSON shape (keys, order, types) of every body.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectedTokens } from '../content.js';
import { startSimulator, type SimulatorHandle } from '../simulator.js';
import { header, loadCapture } from '../testing/capture.js';
import { call, eventually, fetchRaw } from '../testing/client.js';
import { contentOf, eventKind, eventsOf, expectHeadersLike, replay } from '../testing/replay.js';
import { shape } from '../testing/shape.js';

// The captures come from `-np 4 -c 2048`: four slots of 512 tokens each.
const CAPTURE_SETTINGS = { slots: 4, nCtx: 512, ttftMs: 1, itlMs: 1, tokens: 1000, metrics: true, embeddings: false };

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSimulator({ kind: 'llamacpp', ...CAPTURE_SETTINGS });
});
afterAll(() => sim.close());
beforeEach(() => {
  sim.configure(CAPTURE_SETTINGS);
});

describe('byte-identical answers', () => {
  it.each([
    'error-malformed-json-chat',
    'error-malformed-json-completion',
    'error-empty-body-chat',
    'error-missing-messages',
    'error-messages-not-array',
    'error-missing-prompt',
    'unknown-route',
    'unknown-route-post',
    'get-chat-completions',
    'root',
    'props-post-disabled',
    'slots-action-erase-unsupported',
    'v1-embeddings',
    'embedding-native',
    'health-ready',
  ])('%s', async (name) => {
    const { capture, response } = await replay(sim.url, name);
    expect(response.status).toBe(capture.status);
    expect(response.body).toBe(capture.body.toString());
    expectHeadersLike(capture, response.headers);
  });

  it('variant-nometrics-metrics: /metrics without --metrics', async () => {
    sim.configure({ metrics: false });
    const capture = loadCapture('variant-nometrics-metrics');
    const response = await fetchRaw(sim.url, '/metrics');
    expect([response.status, response.body]).toEqual([capture.status, capture.body.toString()]);
    expectHeadersLike(capture, response.headers);
  });
});

describe('streams', () => {
  it.each([
    ['chat-stream', 8],
    ['chat-stream-usage', 8],
    ['v1-completions-stream', 6],
    ['v1-completions-stream-nousage', 3],
    ['completion-stream', 6],
  ])('%s: same headers, event sequence and chunk shapes; %i tokens of content', async (name, tokens) => {
    const { capture, response } = await replay(sim.url, name);
    expect(response.status).toBe(200);
    expectHeadersLike(capture, response.headers);
    const ours = eventsOf(response.body);
    const theirs = eventsOf(capture.body);
    expect(ours.map(eventKind)).toEqual(theirs.map(eventKind));
    expect(ours.map((e) => (e.done ? '[DONE]' : shape(e.json)))).toEqual(theirs.map((e) => (e.done ? '[DONE]' : shape(e.json))));
    expect(ours.map(contentOf).join('')).toBe(expectedTokens(tokens));
  });

  it('chat-stream: the role chunk has content null and the finish chunk an empty delta', async () => {
    const { response } = await replay(sim.url, 'chat-stream');
    const events = eventsOf(response.body);
    const role = events[0]!;
    const finish = events.at(-2)!;
    expect(!role.done && role.json.choices).toEqual([{ finish_reason: null, index: 0, delta: { role: 'assistant', content: null } }]);
    expect(!finish.done && finish.json.choices).toEqual([{ finish_reason: 'length', index: 0, delta: {} }]);
    expect(events.at(-1)).toEqual({ done: true });
  });

  it('the native stream ends without [DONE], like completion-stream', async () => {
    const { capture, response } = await replay(sim.url, 'completion-stream');
    expect(response.body).not.toContain('[DONE]');
    expect(capture.body.toString()).not.toContain('[DONE]');
    expect(response.body.endsWith('}\n\n')).toBe(true);
  });

  it('chat-stream-eos-stop-via-logit-bias: a natural stop counts EOS but shows no chunk for it', async () => {
    sim.configure({ tokens: 1 });
    const { capture, response } = await replay(sim.url, 'chat-stream-eos-stop-via-logit-bias');
    const ours = eventsOf(response.body);
    const theirs = eventsOf(capture.body);
    expect(ours.map(eventKind)).toEqual(theirs.map(eventKind));
    const usage = (events: typeof ours) => events.find((e) => eventKind(e) === 'usage');
    expect(usage(ours)).toMatchObject({ json: { usage: { completion_tokens: 2 } } });
    expect(usage(theirs)).toMatchObject({ json: { usage: { completion_tokens: 2 } } });
    expect(ours.find((e) => eventKind(e) === 'finish')).toMatchObject({ json: { choices: [{ finish_reason: 'stop' }] } });
  });

  it('completion-stream-eos-stop-via-logit-bias: the native stream shows EOS as an empty chunk', async () => {
    sim.configure({ tokens: 19 });
    const { capture, response } = await replay(sim.url, 'completion-stream-eos-stop-via-logit-bias');
    const ours = eventsOf(response.body);
    const theirs = eventsOf(capture.body);
    expect(ours.map(eventKind)).toEqual(theirs.map(eventKind));
    // The engine echoes the request's logit_bias in generation_settings; the simulator ignores sampling parameters.
    const withoutBias = (e: (typeof ours)[number]): string => {
      if (e.done) return '';
      const settings = e.json.generation_settings as Record<string, unknown> | undefined;
      return shape(settings ? { ...e.json, generation_settings: { ...settings, logit_bias: [] } } : e.json);
    };
    expect(ours.map(withoutBias)).toEqual(theirs.map(withoutBias));
    for (const events of [ours, theirs]) {
      expect(events.at(-2)).toMatchObject({ json: { content: '', tokens: [2], tokens_predicted: 20 } });
      expect(events.at(-1)).toMatchObject({ json: { stop: true, stop_type: 'eos', tokens_predicted: 20 } });
    }
  });
});

describe('whole responses', () => {
  it.each([
    ['chat-nonstream', 24],
    ['v1-completions-nonstream', 16],
    ['completion-nonstream', 16],
  ])('%s: same headers and body shape; %i tokens', async (name, tokens) => {
    const { capture, response } = await replay(sim.url, name);
    expectHeadersLike(capture, response.headers);
    const ours = JSON.parse(response.body) as Record<string, unknown>;
    const theirs = JSON.parse(capture.body.toString()) as Record<string, unknown>;
    expect(shape(ours)).toBe(shape(theirs));
    const text = (b: Record<string, unknown>) => {
      const choice = (b.choices as Array<{ message?: { content: string }; text?: string }> | undefined)?.[0];
      return choice?.message?.content ?? choice?.text ?? (b.content as string);
    };
    expect(text(ours)).toBe(expectedTokens(tokens));
    const predicted = (b: Record<string, unknown>) => (b.usage as { completion_tokens: number } | undefined)?.completion_tokens ?? b.tokens_predicted;
    expect(predicted(ours)).toBe(predicted(theirs));
  });

  it('a generation cut by the context size finishes with length, like chat-nonstream-hits-ctx-limit', async () => {
    sim.configure({ nCtx: 40 });
    const body = { messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 1000 };
    const response = JSON.parse((await fetchRaw(sim.url, '/v1/chat/completions', { body })).body);
    expect(response.choices[0].finish_reason).toBe('length');
    expect(response.usage.total_tokens).toBe(40);
  });
});

describe('prompt too long', () => {
  it.each(['error-prompt-too-long-chat', 'error-prompt-too-long-chat-stream', 'error-prompt-too-long-completion'])(
    '%s: 400 exceed_context_size_error, not a stream',
    async (name) => {
      const { capture, response } = await replay(sim.url, name);
      expect(response.status).toBe(400);
      expectHeadersLike(capture, response.headers);
      const ours = JSON.parse(response.body);
      expect(shape(ours)).toBe(shape(JSON.parse(capture.body.toString())));
      expect(ours.error.n_ctx).toBe(512);
      expect(ours.error.n_prompt_tokens).toBeGreaterThan(512);
      expect(ours.error.message).toBe(
        `request (${ours.error.n_prompt_tokens} tokens) exceeds the available context size (512 tokens), try increasing it`,
      );
    },
  );
});

describe('loading', () => {
  it('answers 503 Loading model on every path until loaded, then /health is ok', async () => {
    const loading = await startSimulator({ kind: 'llamacpp', loadMs: 300 });
    try {
      const capture = loadCapture('health-loading');
      for (const path of ['/health', '/v1/models', '/does/not/exist']) {
        const response = await fetchRaw(loading.url, path);
        expect([response.status, response.body]).toEqual([503, capture.body.toString()]);
        expectHeadersLike(capture, response.headers);
      }
      const chat = await fetchRaw(loading.url, '/v1/chat/completions', { body: { messages: [] } });
      expect(chat.status).toBe(503);
      await loading.ready;
      expect((await fetchRaw(loading.url, '/health')).body).toBe('{"status":"ok"}');
    } finally {
      await loading.close();
    }
  });
});

function familyLines(text: string): string[] {
  return text.split('\n').filter(Boolean).map((l) => (l.startsWith('#') ? l : l.split(' ')[0]!));
}

describe('/metrics', () => {
  it('has the captured families, HELP, TYPE and order, and the captured headers', async () => {
    const capture = loadCapture('metrics-idle');
    const response = await fetchRaw(sim.url, '/metrics');
    expect(familyLines(response.body)).toEqual(familyLines(capture.body.toString()));
    expectHeadersLike(capture, response.headers);
    expect(response.body).toMatch(/^llamacpp:requests_processing \d+$/m);
  });

  it('reports processing and deferred requests as metrics-busy-np4 does', async () => {
    sim.configure({ slots: 1, itlMs: 20 });
    const body = { prompt: 'x', n_predict: 100, stream: true };
    const calls = [call(sim.url, '/completion', { body }), call(sim.url, '/completion', { body })];
    await eventually(() => sim.stats().waiting === 1);
    const busy = (await fetchRaw(sim.url, '/metrics')).body;
    expect(familyLines(busy)).toEqual(familyLines(loadCapture('metrics-busy-np4').body.toString()));
    expect(busy).toMatch(/^llamacpp:requests_processing 1$/m);
    expect(busy).toMatch(/^llamacpp:requests_deferred 1$/m);
    calls.forEach((c) => c.abort());
    await eventually(() => sim.stats().processing === 0);
  });
});

describe('/slots, /props, /models', () => {
  it('a fresh engine lists idle slots exactly as slots-idle', async () => {
    const fresh = await startSimulator({ kind: 'llamacpp', ...CAPTURE_SETTINGS });
    try {
      const capture = loadCapture('slots-idle');
      const response = await fetchRaw(fresh.url, '/slots');
      expect(response.body).toBe(capture.body.toString());
      expectHeadersLike(capture, response.headers);
    } finally {
      await fresh.close();
    }
  });

  it('a busy slot and a used idle slot have the captured fields; fail_on_no_slot gives the captured 503', async () => {
    sim.configure({ slots: 2, itlMs: 20 });
    const body = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 200, stream: true };
    await fetchRaw(sim.url, '/v1/chat/completions', { body: { ...body, max_tokens: 1, stream: false } });
    const first = call(sim.url, '/v1/chat/completions', { body });
    await eventually(() => sim.stats().processing === 1);
    expect((await fetchRaw(sim.url, '/slots?fail_on_no_slot=1')).status).toBe(200);
    const second = call(sim.url, '/v1/chat/completions', { body });
    await eventually(() => sim.stats().processing === 2);

    const slots = JSON.parse((await fetchRaw(sim.url, '/slots')).body) as Array<Record<string, unknown>>;
    const busyShape = shape(JSON.parse(loadCapture('slots-busy-np4').body.toString())[0]);
    expect(slots.map((s) => s.is_processing)).toEqual([true, true]);
    for (const s of slots) expect(shape(s)).toBe(busyShape);

    const failing = loadCapture('slots-fail-on-no-slot-busy');
    const refused = await fetchRaw(sim.url, '/slots?fail_on_no_slot=1');
    expect([refused.status, refused.body]).toEqual([503, failing.body.toString()]);
    expectHeadersLike(failing, refused.headers);

    first.abort();
    second.abort();
    await eventually(() => sim.stats().processing === 0);
    const idle = JSON.parse((await fetchRaw(sim.url, '/slots')).body) as Array<Record<string, unknown>>;
    const idleShape = shape(JSON.parse(loadCapture('slots-idle-after-use').body.toString())[0]);
    expect(idle.map((s) => s.is_processing)).toEqual([false, false]);
    for (const s of idle) expect(shape(s)).toBe(idleShape);
  });

  it('/props has the captured shape and reports the configured total_slots', async () => {
    sim.configure({ slots: 3 });
    const capture = loadCapture('props');
    const response = await fetchRaw(sim.url, '/props');
    const props = JSON.parse(response.body);
    expect(shape(props)).toBe(shape(JSON.parse(capture.body.toString())));
    expect(props.total_slots).toBe(3);
    expectHeadersLike(capture, response.headers);
  });

  it.each(['v1-models', 'models', 'tokenize', 'tokenize-with-pieces', 'detokenize'])('%s has the captured shape', async (name) => {
    const { capture, response } = await replay(sim.url, name);
    expect(response.status).toBe(capture.status);
    expect(shape(JSON.parse(response.body))).toBe(shape(JSON.parse(capture.body.toString())));
    expectHeadersLike(capture, response.headers);
  });

  it('answers a CORS preflight like options-preflight', async () => {
    const capture = loadCapture('options-preflight');
    const response = await fetchRaw(sim.url, '/v1/chat/completions', {
      method: 'OPTIONS',
      headers: { origin: 'http://example.test', 'access-control-request-method': 'POST' },
    });
    expect(response.status).toBe(200);
    expectHeadersLike(capture, response.headers);
    expect(response.headers['access-control-allow-origin']).toBe(header(capture, 'access-control-allow-origin'));
  });
});

describe('embeddings', () => {
  it('with --embeddings, /v1/embeddings has the shape of embeddings-mean-v1-embeddings', async () => {
    sim.configure({ embeddings: true });
    const { capture, response } = await replay(sim.url, 'embeddings-mean-v1-embeddings');
    const ours = JSON.parse(response.body);
    expect(shape(ours)).toBe(shape(JSON.parse(capture.body.toString())));
    expect(ours.data).toHaveLength(2);
    expect(ours.data[0].embedding).toHaveLength(64);
  });
});
