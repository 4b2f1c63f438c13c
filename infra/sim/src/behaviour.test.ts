/*
 * Engine behaviour both personalities share: slots and the FIFO beyond
 * them, cancellation on disconnect, output length, the fault knobs and the
 * /__sim control surface. Each case is timed in milliseconds, not seconds.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectedTokens } from './content.js';
import { startSimulator, type SimulatorHandle } from './simulator.js';
import { call, eventually, fetchRaw, type Call } from './testing/client.js';
import { contentOf, eventsOf } from './testing/replay.js';

const BASE = {
  slots: 2,
  ttftMs: 2,
  itlMs: 2,
  tokens: 8,
  tokenStyle: 'ascii',
  failStatus: null,
  hangBeforeHeaders: false,
  slowStartMs: 0,
  dieAfterTokens: null,
  dieMode: 'reset',
  faultCount: null,
} as const;

const CHAT = '/v1/chat/completions';
const chat = (extra: object = {}) => ({ messages: [{ role: 'user', content: 'hi' }], ...extra });
const streamText = (body: string) => eventsOf(body).map(contentOf).join('');

describe.each(['llamacpp', 'vllm'] as const)('%s', (kind) => {
  let sim: SimulatorHandle;
  beforeAll(async () => {
    sim = await startSimulator({ kind, ...BASE });
  });
  afterAll(() => sim.close());
  beforeEach(async () => {
    sim.configure(BASE);
    await eventually(() => sim.stats().processing + sim.stats().waiting === 0);
    sim.resetStats();
  });

  /** Starts streams one after another, each only once the simulator has registered the previous one. */
  async function startInOrder(n: number, body: object): Promise<Call[]> {
    const calls: Call[] = [];
    for (let i = 0; i < n; i++) {
      calls.push(call(sim.url, CHAT, { body }));
      await eventually(() => {
        const s = sim.stats();
        return s.processing + s.waiting + s.completed === i + 1;
      });
    }
    return calls;
  }

  describe('slots', () => {
    it('never runs more than `slots` requests and starts the rest in arrival order', async () => {
      sim.configure({ itlMs: 20 });
      const calls = await startInOrder(6, chat({ stream: true }));
      const started: number[] = [];
      calls.forEach((c, i) => void c.until((t) => t.includes(' t0')).then(() => started.push(i)));
      const bodies = await Promise.all(calls.map((c) => c.done));
      expect(started).toEqual([0, 1, 2, 3, 4, 5]);
      for (const b of bodies) expect(streamText(b.body)).toBe(expectedTokens(8));
      expect(sim.stats()).toMatchObject({ peakProcessing: 2, peakWaiting: 4, deferrals: 4, completed: 6, cancellations: 0 });
    });

    it('starts waiting requests as soon as the slot count grows', async () => {
      sim.configure({ slots: 1, itlMs: 30, tokens: 100 });
      const calls = await startInOrder(3, chat({ stream: true }));
      expect(sim.stats()).toMatchObject({ processing: 1, waiting: 2 });
      sim.configure({ slots: 3 });
      expect(sim.stats()).toMatchObject({ processing: 3, waiting: 0 });
      calls.forEach((c) => c.abort());
    });
  });

  describe('cancellation', () => {
    it('frees the slot at once when a running client disconnects', async () => {
      sim.configure({ slots: 1, itlMs: 30, tokens: 100 });
      const [running, queued] = await startInOrder(2, chat({ stream: true }));
      await running!.until((t) => t.includes(' t0'));
      const cut = Date.now();
      running!.abort();
      await queued!.until((t) => t.includes(' t0'));
      expect(Date.now() - cut).toBeLessThan(150);
      expect(sim.stats()).toMatchObject({ cancellations: 1, processing: 1, waiting: 0 });
      queued!.abort();
    });

    it('drops a waiting request from the queue when its client leaves', async () => {
      sim.configure({ slots: 1, itlMs: 5, tokens: 10 });
      const [running, leaving, staying] = await startInOrder(3, chat({ stream: true }));
      leaving!.abort();
      await eventually(() => sim.stats().waiting === 1);
      await expect(leaving!.done).rejects.toThrow();
      const [a, c] = await Promise.all([running!.done, staying!.done]);
      expect([streamText(a.body), streamText(c.body)]).toEqual([expectedTokens(10), expectedTokens(10)]);
      expect(sim.stats()).toMatchObject({ cancellations: 1, completed: 2, peakProcessing: 1 });
    });
  });

  describe('output length', () => {
    it('honours max_tokens with finish length, and otherwise stops naturally after `tokens`', async () => {
      const capped = JSON.parse((await fetchRaw(sim.url, CHAT, { body: chat({ max_tokens: 3 }) })).body);
      expect(capped.choices[0]).toMatchObject({ finish_reason: 'length', message: { content: expectedTokens(3) } });
      expect(capped.usage.completion_tokens).toBe(3);
      const natural = JSON.parse((await fetchRaw(sim.url, CHAT, { body: chat({ max_tokens: 50 }) })).body);
      expect(natural.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: expectedTokens(8) } });
      expect(natural.usage.completion_tokens).toBe(9);
    });

    it('streams multi-byte characters intact in the utf8 token style', async () => {
      sim.configure({ tokenStyle: 'utf8' });
      const body = (await fetchRaw(sim.url, CHAT, { body: chat({ stream: true, max_tokens: 6 }) })).body;
      expect(streamText(body)).toBe(expectedTokens(6, 'utf8'));
      expect(streamText(body)).toContain('𝄞');
    });
  });

  describe('faults', () => {
    it('failStatus answers with an engine error, for faultCount requests only', async () => {
      sim.configure({ failStatus: 503, faultCount: 2 });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetchRaw(sim.url, CHAT, { body: chat() })).status);
      expect(statuses).toEqual([503, 503, 200]);
      const failure = JSON.parse((await (sim.configure({ failStatus: 500 }), fetchRaw(sim.url, CHAT, { body: chat() }))).body);
      expect(failure.error).toMatchObject({ code: 500, type: kind === 'llamacpp' ? 'server_error' : 'InternalServerError' });
      expect(sim.stats()).toMatchObject({ faults: 3, errors: 3, completed: 1 });
    });

    it('hangBeforeHeaders accepts a request and never answers; leaving counts as a cancellation', async () => {
      sim.configure({ hangBeforeHeaders: true });
      const hung = call(sim.url, CHAT, { body: chat() });
      await new Promise((r) => setTimeout(r, 100));
      expect(hung.head).toBeUndefined();
      hung.abort();
      await eventually(() => sim.stats().cancellations === 1);
      expect(sim.stats()).toMatchObject({ processing: 0, completed: 0 });
    });

    it('slowStartMs delays the response', async () => {
      sim.configure({ slowStartMs: 150 });
      const t0 = Date.now();
      await fetchRaw(sim.url, CHAT, { body: chat({ max_tokens: 1 }) });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    });

    it("dieAfterTokens with dieMode 'reset' cuts that request's connection after exactly N tokens", async () => {
      sim.configure({ dieAfterTokens: 3, dieMode: 'reset', faultCount: 1 });
      const dying = call(sim.url, CHAT, { body: chat({ stream: true }) });
      await expect(dying.done).rejects.toThrow();
      expect(dying.text.endsWith('\n\n')).toBe(true);
      expect(streamText(dying.text)).toBe(expectedTokens(3));
      const next = await fetchRaw(sim.url, CHAT, { body: chat({ stream: true }) });
      expect(streamText(next.body)).toBe(expectedTokens(8));
      expect(sim.stats()).toMatchObject({ processing: 0, cancellations: 0, faults: 1 });
    });
  });

  describe('/__sim control over HTTP', () => {
    it('changes settings, reports stats, resets them and rejects bad settings', async () => {
      const set = await fetchRaw(sim.url, '/__sim/config', { body: { tokens: 2, failStatus: null } });
      expect(JSON.parse(set.body)).toMatchObject({ kind, tokens: 2 });
      const reply = JSON.parse((await fetchRaw(sim.url, CHAT, { body: chat() })).body);
      expect(reply.choices[0].message.content).toBe(expectedTokens(2));
      const stats = JSON.parse((await fetchRaw(sim.url, '/__sim/stats')).body);
      expect(stats).toMatchObject({ requests: 1, completed: 1, tokens: 3, byPath: { [CHAT]: 1 } });
      expect(JSON.parse((await fetchRaw(sim.url, '/__sim/reset-stats', { method: 'POST' })).body)).toMatchObject({ requests: 0, byPath: {} });
      for (const bad of [{ slots: 0 }, { port: 1 }, { nope: 1 }, { dieMode: 'explode' }]) {
        const r = await fetchRaw(sim.url, '/__sim/config', { body: bad });
        expect(r.status).toBe(400);
        expect(JSON.parse(r.body).error).toMatch(/'(slots|port|nope|dieMode)'/);
      }
      expect(() => sim.configure({ slots: -1 })).toThrow(/slots/);
      expect(sim.config().slots).toBe(2);
    });
  });

  it("dieMode 'exit' kills the whole engine: every connection dies and nothing listens any more", async () => {
    const doomed = await startSimulator({ kind, ...BASE });
    const bystander = call(doomed.url, CHAT, { body: chat({ stream: true, max_tokens: 1000 }) });
    await bystander.until((t) => t.includes(' t0'));
    doomed.configure({ dieAfterTokens: 2, dieMode: 'exit', faultCount: 1 });
    const victim = call(doomed.url, CHAT, { body: chat({ stream: true }) });
    await expect(victim.done).rejects.toThrow();
    expect(streamText(victim.text)).toBe(expectedTokens(2));
    await expect(bystander.done).rejects.toThrow();
    await doomed.stopped;
    await expect(fetchRaw(doomed.url, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('llamacpp deferral', () => {
  let sim: SimulatorHandle;
  beforeAll(async () => {
    sim = await startSimulator({ kind: 'llamacpp', ...BASE, slots: 1, itlMs: 20, tokens: 10 });
  });
  afterAll(() => sim.close());

  it('sends no status line to a deferred request until a slot runs it', async () => {
    const first = call(sim.url, '/completion', { body: { prompt: 'a', stream: true } });
    await first.until((t) => t.includes(' t0'));
    const deferred = call(sim.url, '/completion', { body: { prompt: 'b', stream: true } });
    await eventually(() => sim.stats().waiting === 1);
    // A token the running request got after the deferral: a status line sent on deferring would have come first.
    const sofar = first.text.length;
    await first.until((t) => t.length > sofar);
    expect(deferred.head).toBeUndefined();
    expect((await fetchRaw(sim.url, '/metrics')).body).toMatch(/^llamacpp:requests_deferred 1$/m);
    await first.done;
    await deferred.headers;
    expect(deferred.head?.status).toBe(200);
    expect(streamText((await deferred.done).body)).toBe(expectedTokens(10));
    expect(sim.stats()).toMatchObject({ peakProcessing: 1, deferrals: 1 });
  });
});
