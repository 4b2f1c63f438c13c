import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedTokens, startRouterSimulator, type RouterHandle } from '@infergate/sim';
import { chat, health, startDispatcher, STARTUP_MS } from '../support/gate.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, waitFor, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * A dispatcher beside a llama.cpp router (several models from one
 * llama-server, each loaded on its first request): real Redis, BullMQ,
 * ingress and dispatcher processes, the router simulated in this process so
 * each child model's counters say what it saw.
 */

const MODELS = ['alpha', 'beta'] as const;
const SLOTS = 2;

let redis: TestRedis;
let ingress: IngressProcess;
let dispatcher: Service;
let router: RouterHandle;

beforeAll(async () => {
  redis = await startTestRedis();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix() };
  router = await startRouterSimulator({ models: MODELS, loadMs: 300, child: { slots: SLOTS, ttftMs: 10, itlMs: 5, tokens: 1000 } });
  ingress = await startIngressProcess(env);
  dispatcher = startDispatcher(env, router.url, 'router');
}, 2 * STARTUP_MS);

afterAll(async () => {
  await Promise.all([ingress, dispatcher].filter(Boolean).map((s) => s.stop()));
  await router?.close();
  await redis?.stop();
});

describe('a dispatcher beside a llama.cpp router', () => {
  it('is healthy with no model loaded, and its probes load none', async () => {
    await waitForBackends(ingress.url, 1, STARTUP_MS);
    const h = await health(ingress.url);
    expect([h.httpStatus, h.status]).toEqual([200, 'ok']);
    // Wait for the gate's reading, not just the heartbeat: a router whose slots were never learnt stays 'slot count unknown'.
    const backend = await waitFor(async () => (await health(ingress.url)).details.find((d) => d.blocked_by === null), 20_000, 'the router pullable');
    expect(backend).toMatchObject({ backend: router.url, status: 'ok', ready: true, models: expect.arrayContaining([...MODELS]) });
    expect(MODELS.map((m) => router.status(m))).toEqual(['unloaded', 'unloaded']);
  }, STARTUP_MS);

  it('lists every model of the router in /v1/models', async () => {
    const res = await fetch(`${ingress.url}/v1/models`);
    const ids = ((await res.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining([...MODELS]));
  });

  it('serves each model from its own child, loading it on the first request', async () => {
    for (const model of MODELS) {
      const answer = await chat(ingress.url, model, 4);
      expect([answer.status, answer.content, (answer.body as { model?: string }).model]).toEqual([200, expectedTokens(4), model]);
      expect(router.status(model)).toBe('loaded');
      expect(router.stats(model)?.requests).toBe(1);
    }
  });

  it('keeps to the slots the router reports for a loaded model: no request waits inside it', async () => {
    // The gate learns the loaded model's slot count from the router's /slots?model=.
    await waitFor(async () => (await health(ingress.url)).details[0]?.slots_total === 2 * SLOTS, 20_000, 'both models\' slots known');
    const answers = await Promise.all(Array.from({ length: 2 * SLOTS + 1 }, () => chat(ingress.url, 'alpha', 40)));
    expect(answers.map((a) => [a.status, a.content])).toEqual(answers.map(() => [200, expectedTokens(40)]));
    expect(router.stats('alpha')).toMatchObject({ peakProcessing: SLOTS, peakWaiting: 0 });
  });
});
