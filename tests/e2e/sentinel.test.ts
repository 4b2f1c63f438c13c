import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedTokens } from '@infergate/sim';
import { uniquePrefix } from '../support/redis.js';
import { hasRedisBinaries } from '../support/redisCluster.js';
import { startRedisSentinel, type TestRedisSentinel } from '../support/redisSentinel.js';
import { waitFor } from '../support/services.js';
import { firstSuccess, startStack, streamLoad, streamOnce, tally, type Outcome, type Stack } from '../support/failover.js';

/*
 * The spine behind Redis Sentinel started by this file (a master, a replica,
 * three sentinels with quorum 2), and the master killed under streaming
 * load: the stack must follow the promoted replica.
 */

const MODELS = ['alpha', 'beta'] as const;

let sentinel: TestRedisSentinel;
let stack: Stack;

beforeAll(async () => {
  if (!hasRedisBinaries()) throw new Error('redis-server and redis-cli are required for the Sentinel tests');
  sentinel = await startRedisSentinel();
  stack = await startStack(
    {
      REDIS_SENTINELS: sentinel.sentinels,
      REDIS_SENTINEL_MASTER: sentinel.masterName,
      REDIS_PREFIX: uniquePrefix(),
      QUEUE_WAIT_TIMEOUT_SECONDS: '8',
      JOB_LOCK_SECONDS: '4',
      STALLED_CHECK_SECONDS: '2',
      ORPHAN_WAIT_SECONDS: '8',
    },
    { models: MODELS, ingressIds: ['s0', 's1'], itlMs: 5 },
  );
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  await sentinel?.stop();
});

describe('infergate behind Redis Sentinel', () => {
  it('streams and answers chat completions for every model through both ingress nodes', async () => {
    for (const model of MODELS) {
      const stream = await stack.client(0).chat.completions.create({ model, stream: true, max_tokens: 7, messages: [{ role: 'user', content: 'hi' }] });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toBe(expectedTokens(7, 'utf8'));
      const res = await stack.client(1).chat.completions.create({ model, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });
      expect(res.choices[0]!.message.content).toBe(expectedTokens(4, 'utf8'));
      expect(res.model).toBe(model);
    }
    const outcomes = await Promise.all(Array.from({ length: 60 }, (_, i) => streamOnce(stack.client(i % 2), MODELS[i % 2]!, 3 + (i % 10), 30_000)));
    expect(tally(outcomes)).toEqual({ ok: 60 });
  });

  it('follows the promoted replica when the master is killed under streaming load', async () => {
    const master = await sentinel.masterPort();
    const stopLoad = new AbortController();
    const early: Outcome[] = [];
    const load = streamLoad(stack, MODELS, { concurrency: 16, maxTokens: 60, timeoutMs: 30_000, until: stopLoad.signal }, early);
    await waitFor(() => early.length >= 16, 20_000, 'the load under way');

    const killedAt = Date.now();
    await sentinel.kill(master);
    const [promoted, recovery] = await Promise.all([
      sentinel.waitForFailover(master).then((port) => ({ port, ms: Date.now() - killedAt })),
      firstSuccess(() => streamOnce(stack.client(0), MODELS[0], 10, 30_000), killedAt, { timeoutMs: 10_000 }),
    ]);
    stopLoad.abort();
    const outcomes = await load;

    const inFlight = outcomes.filter((o) => o.startedAt < killedAt && o.endedAt > killedAt);
    process.stdout.write(
      `sentinel failover: master ${master} killed, replica ${promoted.port} promoted after ${promoted.ms} ms; ` +
        `first new request served ${recovery.ms} ms after the kill; ` +
        `in flight at the kill ${JSON.stringify(tally(inFlight))}; whole load ${JSON.stringify(tally(outcomes))}\n`,
    );
    expect(outcomes.filter((o) => o.kind === 'broken')).toEqual([]);
    expect(recovery.attempts.filter((o) => o.kind === 'broken')).toEqual([]);
    expect(recovery.ms).toBeLessThan(10_000);

    expect(stack.exited()).toEqual([]);
    const after = await Promise.all(Array.from({ length: 30 }, (_, i) => streamOnce(stack.client(i % 2), MODELS[i % 2]!, 8, 30_000)));
    expect(tally(after), stack.warnings()).toEqual({ ok: 30 });
    expect(await sentinel.masterPort()).toBe(promoted.port);
  }, 90_000);
});
