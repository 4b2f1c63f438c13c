import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectedTokens, startSimulator, type SimulatorHandle } from '@infergate/sim';
import { freePort } from '@infergate/stack';
import { chat, health, heldBack, startDispatcher, STARTUP_MS, waitForBackend, type FleetAddress } from '../support/gate.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, waitFor, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * (c) An engine that is still loading gets nothing: llama.cpp answers 503
 * on every path while it loads, vLLM refuses connections. Both dispatchers
 * know their model from configuration, so their queues are consumed from
 * the start and only the gate keeps work away. The engines start only once
 * the fleet is up, so the loading phase is short and sure to be observed.
 */

const MODEL = 'loading-model';
const LOAD_MS = 5_000;

let redis: TestRedis;
let ingress: IngressProcess;
const services: Service[] = [];
const ports = { llama: 0, vllm: 0 };
let llama: SimulatorHandle | undefined;
let vllm: SimulatorHandle | undefined;
let fleet: FleetAddress;
const url = (port: number) => `http://127.0.0.1:${port}`;

beforeAll(async () => {
  redis = await startTestRedis();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix() };
  ports.llama = await freePort();
  ports.vllm = await freePort();
  ingress = await startIngressProcess(env);
  fleet = { ingressUrl: ingress.url, redisUrl: redis.url, prefix: env.REDIS_PREFIX };
  services.push(
    startDispatcher(env, url(ports.llama), 'llama', { ENGINE_KIND: 'llamacpp', ENGINE_MODELS: MODEL }),
    startDispatcher(env, url(ports.vllm), 'vllm', { ENGINE_KIND: 'vllm', ENGINE_SLOTS: '2', ENGINE_MODELS: MODEL }),
  );
  await waitFor(async () => (await health(ingress.url)).total_backends === 2, STARTUP_MS, 'both dispatchers registered');
}, 2 * STARTUP_MS);

afterAll(async () => {
  await Promise.all([ingress, ...services].filter(Boolean).map((s) => s.stop()));
  await Promise.all([llama, vllm].map((s) => s?.close()));
  await redis?.stop();
});

it('(c) sends nothing to an engine that is still loading, then gives it work once it is ready', async () => {
  await waitForBackend(ingress.url, url(ports.vllm), (d) => d.last_error === 'connection refused', 'vLLM not listening yet');
  const engine = { slots: 2, ttftMs: 20, itlMs: 20, tokens: 8, modelId: MODEL, loadMs: LOAD_MS };
  llama = await startSimulator({ kind: 'llamacpp', port: ports.llama, ...engine });
  vllm = await startSimulator({ kind: 'vllm', port: ports.vllm, ...engine });
  let loaded = false;
  const ready = Promise.all([llama.ready, vllm.ready]).then(() => (loaded = true));

  const loading = await waitForBackend(ingress.url, llama.url, (d) => d.last_error === 'loading', 'llama.cpp loading');
  expect(loading).toMatchObject({ ready: false, status: 'unavailable' });
  const pending = Promise.all(Array.from({ length: 16 }, () => chat(ingress.url, MODEL, 5)));
  const held = await heldBack(fleet, MODEL, 16, [llama.url, vllm.url]);
  expect(loaded, 'the engines were still loading').toBe(false);
  expect(held.map((d) => [d.ready, d.in_flight])).toEqual([[false, 0], [false, 0]]);
  // llama.cpp counts every request it answered, the 503s of the loading phase included.
  expect(llama.stats().byPath['/v1/chat/completions'] ?? 0).toBe(0);

  await ready;
  const answers = await pending;
  expect(answers.filter((a) => a.status !== 200 || a.content !== expectedTokens(5))).toEqual([]);
  const [l, v] = [llama.stats(), vllm.stats()];
  expect(l.completed + v.completed).toBe(16);
  expect(l.completed).toBeGreaterThan(0);
  expect(v.completed).toBeGreaterThan(0);
  expect([l.deferrals, v.deferrals]).toEqual([0, 0]);
  await waitForBackends(ingress.url, 2);
}, 40_000);
