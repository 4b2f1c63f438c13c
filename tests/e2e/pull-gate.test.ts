import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedTokens, startSimulator, type SimStats, type SimulatorHandle } from '@infergate/sim';
import { call, type Call } from '../../infra/sim/src/testing/client.js';
import { chat, heldBack, startDispatcher, STARTUP_MS, waitForBackend, type ChatAnswer, type FleetAddress } from '../support/gate.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * The pull gate, end to end: real Redis and BullMQ, dispatchers and ingress
 * as separate processes, simulated engines in this process so their own
 * counters say what each engine saw. Engine-side deferrals (a request that
 * had to wait inside an engine) are what the gate exists to prevent.
 */

const POOL = 'pool-model';
const KV = 'kv-model';

let redis: TestRedis;
let ingress: IngressProcess;
const services: Service[] = [];
/** Three llama.cpp engines × 2 slots; their natural answers are long, so direct streams hold a slot. */
const pool: SimulatorHandle[] = [];
let kv: SimulatorHandle;
let fleet: FleetAddress;

beforeAll(async () => {
  redis = await startTestRedis();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix() };
  for (let i = 0; i < 3; i++) pool.push(await startSimulator({ kind: 'llamacpp', slots: 2, ttftMs: 10, itlMs: 5, tokens: 1000, modelId: POOL }));
  kv = await startSimulator({ kind: 'vllm', slots: 4, ttftMs: 10, itlMs: 5, tokens: 8, modelId: KV, kvUsage: 0.95 });
  ingress = await startIngressProcess(env);
  fleet = { ingressUrl: ingress.url, redisUrl: redis.url, prefix: env.REDIS_PREFIX };
  pool.forEach((sim, i) => services.push(startDispatcher(env, sim.url, `pool${i}`)));
  services.push(startDispatcher(env, kv.url, 'kv', { ENGINE_SLOTS: '4', KV_CACHE_MAX_USAGE: '0.9' }));
  await waitForBackends(ingress.url, services.length, STARTUP_MS);
}, 2 * STARTUP_MS);

afterAll(async () => {
  await Promise.all([ingress, ...services].filter(Boolean).map((s) => s.stop()));
  await Promise.all([...pool, kv].filter(Boolean).map((s) => s.close()));
  await redis?.stop();
});

function burst(model: string, count: number): Promise<ChatAnswer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => chat(ingress.url, model, 3 + (i % 5))));
}

/** Requests whose answer is not the complete expected text. */
function wrong(answers: readonly ChatAnswer[]): ChatAnswer[] {
  return answers.filter((a, i) => a.status !== 200 || a.content !== expectedTokens(3 + (i % 5)));
}

/** A long stream sent to the engine directly, past infergate, holding one slot until aborted. */
async function holdSlot(sim: SimulatorHandle): Promise<Call> {
  const c = call(sim.url, '/v1/chat/completions', { body: { model: POOL, stream: true, messages: [{ role: 'user', content: 'direct' }] } });
  c.done.catch(() => undefined);
  await c.until((text) => text.includes(' t0'));
  return c;
}

describe('the pull gate', () => {
  it('(a) 3 engines × 2 slots, 60 concurrent requests: no engine ever holds more than its slots or defers one', async () => {
    const answers = await burst(POOL, 60);
    expect(wrong(answers)).toEqual([]);
    const stats = pool.map((s) => s.stats());
    expect(stats.map((s) => s.deferrals)).toEqual([0, 0, 0]);
    expect(stats.map((s) => s.peakWaiting)).toEqual([0, 0, 0]);
    // Every engine was filled, never overfilled: the gate is neither closed nor leaky.
    expect(stats.map((s) => s.peakProcessing)).toEqual([2, 2, 2]);
    expect(stats.reduce((n, s) => n + s.completed, 0)).toBe(60);
  });

  it('(b) requests sent to an engine directly reduce what its dispatcher pulls', async () => {
    for (const s of pool) s.resetStats();
    // Engine 0 keeps one of its two slots for infergate, engine 1 none.
    const held = [await holdSlot(pool[0]!), await holdSlot(pool[1]!), await holdSlot(pool[1]!)];
    try {
      await waitForBackend(ingress.url, pool[0]!.url, (d) => d.outside_load === 1, 'outside load 1');
      await waitForBackend(ingress.url, pool[1]!.url, (d) => d.outside_load === 2, 'outside load 2');
      const answers = await burst(POOL, 30);
      expect(wrong(answers)).toEqual([]);
      const stats = pool.map((s) => s.stats());
      expect(stats.map((s) => s.deferrals)).toEqual([0, 0, 0]);
      expect(stats.map((s) => s.peakProcessing)).toEqual([2, 2, 2]);
      // Engine 1's two slots were taken from outside the whole time: it got none of the 30.
      expect(stats[1]!.requests).toBe(2);
      expect(stats[0]!.requests).toBeGreaterThan(1);
    } finally {
      for (const c of held) c.abort();
    }
  });

  it('(d) in a pool of a fast 4-slot, a 2-slot and a slow 1-slot engine, the fast one serves far more', async () => {
    // The engines change their slot count as a restarted llama-server would; each poll reads /props again.
    const [fast, medium, slow] = pool as [SimulatorHandle, SimulatorHandle, SimulatorHandle];
    fast.configure({ slots: 4, ttftMs: 5, itlMs: 2 });
    medium.configure({ slots: 2, ttftMs: 30, itlMs: 10 });
    slow.configure({ slots: 1, ttftMs: 100, itlMs: 20 });
    for (const [sim, slots] of [[fast, 4], [medium, 2], [slow, 1]] as const) {
      await waitForBackend(ingress.url, sim.url, (d) => d.slots_total === slots, `${slots} slots`);
      sim.resetStats();
    }
    const answers = await Promise.all(Array.from({ length: 60 }, () => chat(ingress.url, POOL, 8)));
    expect(answers.filter((a) => a.status !== 200 || a.content !== expectedTokens(8))).toEqual([]);
    const [f, m, s] = pool.map((sim) => sim.stats()) as [SimStats, SimStats, SimStats];
    expect(f.completed + m.completed + s.completed).toBe(60);
    expect(f.completed).toBeGreaterThanOrEqual(3 * s.completed);
    expect([f.deferrals, m.deferrals, s.deferrals]).toEqual([0, 0, 0]);
    expect([f.peakProcessing, m.peakProcessing, s.peakProcessing]).toEqual([4, 2, 1]);
  });

  it('(e) vLLM above the KV-cache threshold pulls nothing; once the cache frees, the waiting requests run', async () => {
    await waitForBackend(ingress.url, kv.url, (d) => d.blocked_by?.startsWith('kv cache') === true, 'blocked by the KV cache');
    const pending = Promise.all(Array.from({ length: 3 }, () => chat(ingress.url, KV, 4)));
    const [held] = await heldBack(fleet, KV, 3, [kv.url]);
    expect([held!.in_flight, held!.blocked_by]).toEqual([0, expect.stringMatching(/^kv cache/)]);
    expect(kv.stats().requests).toBe(0);
    kv.configure({ kvUsage: null });
    const answers = await pending;
    expect(answers.map((a) => [a.status, a.content])).toEqual(Array(3).fill([200, expectedTokens(4)]));
    expect(kv.stats().completed).toBe(3);
  });

  it('(e) vLLM backs off while preemptions rise', async () => {
    kv.configure({ kvUsage: null });
    kv.resetStats();
    const rising = setInterval(() => kv.configure({ preemptions: kv.config().preemptions + 1 }), 20);
    try {
      await waitForBackend(ingress.url, kv.url, (d) => d.blocked_by === 'preemptions rising', 'blocked by preemptions');
      const pending = Promise.all(Array.from({ length: 3 }, () => chat(ingress.url, KV, 4)));
      const [held] = await heldBack(fleet, KV, 3, [kv.url]);
      expect([held!.in_flight, held!.blocked_by]).toEqual([0, 'preemptions rising']);
      expect(kv.stats().requests).toBe(0);
      clearInterval(rising);
      const answers = await pending;
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(kv.stats().completed).toBe(3);
    } finally {
      clearInterval(rising);
    }
  });
});
