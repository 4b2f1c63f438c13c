import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { createLogger, loadConfig, redisNames } from '@infergate/shared';
import { startIngress, type IngressHandle } from '@infergate/ingress';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { httpRequest } from '../support/rawHttp.js';
import { waitFor } from '../support/services.js';

/*
 * Clients that leave within the first milliseconds, while their request is
 * still being admitted (queue depth, per-key limiter), are noticed: no job
 * is queued for them, no engine generates for nobody, and their keys'
 * concurrency slots are free at once. Redis is paused for writes while the
 * clients leave, so every one of them leaves while the limiter's script
 * waits for its answer: the await that used to hide the disconnect.
 */

const MODEL = 'stories260K.gguf';
const CLIENTS = 20;
const keyOf = (i: number) => `sk-early-leaver-${String(i).padStart(2, '0')}-0123456789abcdef`;
/** Long enough that a job started for a client that left would still hold its key's slot when the next request comes. */
const LONG_ANSWER = JSON.stringify({ model: MODEL, stream: true, max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] });
const SHORT_ANSWER = JSON.stringify({ model: MODEL, stream: false, max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] });

let fleet: TestFleet;
let ingress: IngressHandle;
let port: number;
let admin: Redis;

beforeAll(async () => {
  fleet = await startTestFleet({ sims: [{ kind: 'llamacpp', slots: 2, ttftMs: 10, itlMs: 20, tokens: 1000 }], ingresses: 0 });
  ingress = await startIngress(
    loadConfig('ingress', {
      ...fleet.env,
      API_KEYS: Array.from({ length: CLIENTS }, (_, i) => `k${i}:${keyOf(i)}`).join(','),
      KEY_MAX_CONCURRENT: '1',
    }),
    createLogger({ name: 'ingress', level: 'silent' }),
  );
  await ingress.app.listen({ port: 0, host: '127.0.0.1' });
  port = (ingress.app.server.address() as AddressInfo).port;
  admin = new Redis(fleet.redis.url);
  await waitFor(() => ingress.context.registry.knownModels.has(MODEL), 60_000, 'the dispatcher to announce its model');
}, 90_000);

afterAll(async () => {
  await admin?.call('CLIENT', 'UNPAUSE').catch(() => undefined);
  admin?.disconnect();
  await ingress?.close();
  await fleet?.stop();
});

/** Sends a whole request, then closes the connection at once, without reading a byte. */
function sendAndLeave(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const bytes = httpRequest('POST', '/v1/chat/completions', { authorization: `Bearer ${keyOf(i)}`, 'content-type': 'application/json' }, LONG_ANSWER);
      socket.write(bytes, () => socket.destroy());
    });
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
}

function openConnections(): Promise<number> {
  return new Promise((resolve, reject) => ingress.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/** Requests the ingress answered with 499 (client gone), from its own metrics. */
async function clientGoneAnswers(): Promise<number> {
  const metric = await ingress.context.metrics.registry.getSingleMetric('infergate_requests_total')!.get();
  return metric.values.filter((v) => v.labels.status === '499').reduce((sum, v) => sum + v.value, 0);
}

describe('a burst of clients that leave while being admitted', () => {
  it('queues nothing for them, starts no engine work, and frees their keys at once', async () => {
    const sim = fleet.sims[0]!;
    sim.resetStats();
    await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
    try {
      await Promise.all(Array.from({ length: CLIENTS }, (_, i) => sendAndLeave(i)));
      await waitFor(async () => (await openConnections()) === 0, 20_000, 'the ingress to see every client leave');
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
    }

    await waitFor(async () => (await clientGoneAnswers()) === CLIENTS, 20_000, `${CLIENTS} requests recorded as 499`);
    const names = redisNames(fleet.prefix);
    for (let i = 0; i < CLIENTS; i++) expect(await admin.zcard(names.principalLeases(`key:k${i}`)), `k${i}`).toBe(0);

    // Each key's next request is admitted at once: a slot still taken would answer 429.
    const next = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const res = await request(`http://127.0.0.1:${port}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${keyOf(i)}`, 'content-type': 'application/json' },
          body: SHORT_ANSWER,
        });
        await res.body.text();
        return res.statusCode;
      }),
    );
    expect(next).toEqual(Array.from({ length: CLIENTS }, () => 200));

    // Jobs queued for the leavers would have been ahead of these in the queue, so the engine
    // would have seen them first; it saw only the requests that were answered.
    expect(sim.stats()).toMatchObject({ requests: CLIENTS, completed: CLIENTS, cancellations: 0 });
    const queue = new Queue(names.queueName(MODEL), { connection: admin, prefix: names.bullPrefix });
    expect(await queue.getJobCounts('waiting', 'prioritized', 'active')).toEqual({ waiting: 0, prioritized: 0, active: 0 });
    await queue.close();
  }, 90_000);
});
