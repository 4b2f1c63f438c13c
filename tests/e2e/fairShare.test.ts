import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisNames } from '@infergate/shared';
import { startSimulator, type SimulatorHandle } from '@infergate/sim';
import { FAST_POLL, health } from '../support/gate.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recordingProxy.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, startService, waitFor, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * The fair queue end to end (issue 20): one engine of 4 slots behind a
 * recording proxy, its dispatcher, two ingress processes sharing one Redis.
 * Key A floods the queue; key B, at the same priority, must not wait behind
 * A's whole backlog, on either ingress; a streaming client that asks hears
 * its queue position fall to 0 before its first token.
 */

const KEYS = { a: 'sk-fair-flooder-0123456789', b: 'sk-fair-light-0123456789ab', c: 'sk-fair-watcher-0123456789' };
const SLOTS = 4;
/** Every request asks for the same answer length, so every job costs the same. */
const MAX_TOKENS = 25;
const FLOOD = 80;

let redis: TestRedis;
let sim: SimulatorHandle;
let proxy: RecordingProxy;
let dispatcher: Service;
let one: IngressProcess;
let two: IngressProcess;
let connection: Redis;
let queue: Queue;
let ingressEnv: Record<string, string>;

beforeAll(async () => {
  redis = await startTestRedis();
  const prefix = uniquePrefix();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix };
  sim = await startSimulator({ kind: 'llamacpp', slots: SLOTS, ttftMs: 10, itlMs: 20, tokens: MAX_TOKENS, modelId: 'fair' });
  proxy = await startRecordingProxy(sim.url);
  dispatcher = startService('dispatcher', { ...env, ...FAST_POLL, ENGINE_URL: proxy.url, DISPATCHER_ID: 'd0' });
  ingressEnv = {
    ...env,
    API_KEYS: Object.entries(KEYS).map(([name, key]) => `${name}:${key}`).join(','),
    ALLOW_OPEN_ACCESS: 'false',
    QUEUE_WAIT_TIMEOUT_SECONDS: '120',
  };
  [one, two] = await Promise.all([startIngressProcess({ ...ingressEnv, INGRESS_ID: 'one' }), startIngressProcess({ ...ingressEnv, INGRESS_ID: 'two' })]);
  await Promise.all([one, two].map((ing) => waitForBackends(ing.url, 1)));
  connection = new Redis(redis.url);
  queue = new Queue(redisNames(prefix).queueName('fair'), { connection, prefix: redisNames(prefix).bullPrefix });
}, 120_000);

afterAll(async () => {
  await queue?.close();
  connection?.disconnect();
  await Promise.all([one, two, dispatcher].filter(Boolean).map((s) => s.stop()));
  await proxy?.close();
  await sim?.close();
  await redis?.stop();
});

function client(ingress: IngressProcess, key: string): OpenAI {
  return new OpenAI({ baseURL: `${ingress.url}/v1`, apiKey: key, maxRetries: 0, timeout: 120_000 });
}

/** Sends `n` chat requests at once; resolves to each one's time from the burst's start to its answer, in ms. */
async function burst(ingress: IngressProcess, key: string, n: number): Promise<number[]> {
  const openai = client(ingress, key);
  const started = performance.now();
  return Promise.all(
    Array.from({ length: n }, async () => {
      const answer = await openai.chat.completions.create({ model: 'fair', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'hello' }] });
      expect(answer.choices[0]?.message.content).toBeTruthy();
      return performance.now() - started;
    }),
  );
}

const waiting = () => queue.getJobCountByTypes('waiting', 'prioritized');
const inFlight = async () => (await health(one.url)).details[0]?.in_flight ?? 0;

async function idle(): Promise<void> {
  await waitFor(async () => (await waiting()) === 0 && (await inFlight()) === 0, 30_000, 'an idle fleet');
}

/**
 * A floods through `flooder`, then B sends 4 at once through `light`: B's
 * slowest answer within 2 × (its time on an idle fleet + one service time),
 * and A gets every slot back once B is done.
 */
async function floodThenLight(flooder: IngressProcess, light: IngressProcess): Promise<{ lightMs: number; bound: number }> {
  await idle();
  const service = Math.max(...(await burst(light, KEYS.b, 1)));
  const alone = Math.max(...(await burst(light, KEYS.b, SLOTS)));
  await idle();
  const flood = burst(flooder, KEYS.a, FLOOD);
  await waitFor(async () => (await waiting()) >= FLOOD - 2 * SLOTS, 30_000, 'the flood queued');
  const lightMs = Math.max(...(await burst(light, KEYS.b, SLOTS)));
  // B is done: A alone fills every slot again while its backlog lasts.
  expect(await waiting()).toBeGreaterThan(SLOTS);
  await waitFor(async () => (await inFlight()) === SLOTS, 10_000, 'A on every slot');
  const floodMs = await flood;
  expect(floodMs).toHaveLength(FLOOD);
  return { lightMs, bound: 2 * (alone + service) };
}

describe('fair share within a priority class', () => {
  it('serves a light key next to a flooder’s backlog, not behind it', async () => {
    const { lightMs, bound } = await floodThenLight(one, one);
    expect(lightMs).toBeLessThanOrEqual(bound);
  }, 180_000);

  it('holds one share across two ingresses', async () => {
    const { lightMs, bound } = await floodThenLight(one, two);
    expect(lightMs).toBeLessThanOrEqual(bound);
  }, 180_000);
});

describe('Retry-After', () => {
  it('after a queue timeout, says when the job would have started: its position at the fleet’s drain rate', async () => {
    const impatient = await startIngressProcess({ ...ingressEnv, QUEUE_WAIT_TIMEOUT_SECONDS: '1' });
    try {
      await waitForBackends(impatient.url, 1);
      await idle();
      const flood = burst(one, KEYS.a, 10 * SLOTS);
      await waitFor(async () => (await waiting()) >= 8 * SLOTS, 10_000, 'the flood queued');
      // The flooder's own request, behind its backlog; the drain rate is known from the tests before.
      const res = await fetch(`${impatient.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.a}` },
        body: JSON.stringify({ model: 'fair', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'late' }] }),
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('queue_timeout');
      // About 30 jobs ahead at about 8 a second: seconds, where a constant would say ceil(1 / 4) = 1.
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(2);
      await flood;
    } finally {
      await impatient.stop();
    }
  }, 60_000);
});

/** A raw streaming chat request; resolves to the whole body as received. */
async function stream(ingress: IngressProcess, key: string, headers: Record<string, string> = {}): Promise<{ res: Response; body: string }> {
  const res = await fetch(`${ingress.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ model: 'fair', stream: true, max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'where am I' }] }),
  });
  return { res, body: await res.text() };
}

describe('queue position updates', () => {
  it('tell a waiting streaming client its position, down to 0 before its first token', async () => {
    await idle();
    const flood = burst(one, KEYS.a, 3 * SLOTS);
    await waitFor(async () => (await waiting()) >= SLOTS, 10_000, 'jobs queued ahead');
    // The flooder's own request: its backlog is ahead of it, so it waits several turns.
    const { res, body } = await stream(two, KEYS.a, { 'x-infergate-queue-updates': '1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const lines = body.split('\n\n');
    const firstData = lines.findIndex((l) => l.startsWith('data: '));
    const updates = lines.slice(0, firstData);
    expect(updates.length).toBeGreaterThan(1);
    const positions = updates.map((l) => {
      const m = /^: queue position=(\d+) eta_ms=(-?\d+)$/.exec(l);
      expect(m, l).not.toBeNull();
      return Number(m![1]);
    });
    expect(positions[0]).toBeGreaterThan(0);
    expect(positions.at(-1)).toBe(0);
    for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeLessThanOrEqual(positions[i - 1]!);
    expect(body).toContain('data: [DONE]');
    await flood;
  }, 60_000);

  it('carry an engine’s error answer inside the stream, since the head went out early', async () => {
    await idle();
    sim.configure({ failStatus: 500, faultCount: 1 });
    try {
      const { res, body } = await stream(one, KEYS.c, { 'x-infergate-queue-updates': '1' });
      expect(res.status).toBe(200);
      const engine = proxy.responses.get(res.headers.get('x-request-id')!);
      expect(engine?.status).toBe(500);
      expect(body.endsWith(`data: ${engine!.body.toString('utf8')}\n\n`)).toBe(true);
    } finally {
      sim.configure({ failStatus: null, faultCount: null });
    }
  });

  it('change nothing for a client that does not ask: the engine’s bytes, byte for byte', async () => {
    await idle();
    const { res, body } = await stream(one, KEYS.c);
    const rid = res.headers.get('x-request-id')!;
    const engine = proxy.responses.get(rid);
    expect(engine).toBeDefined();
    expect(Buffer.from(body)).toEqual(engine!.body);
    expect(res.headers.get('content-type')).toBe(engine!.headers['content-type']);
  });
});
