import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedTokens } from '@infergate/sim';
import { redisNames } from '@infergate/shared';
import { uniquePrefix } from '../support/redis.js';
import { adminConnection, ask, hasRedisBinaries, startRedisCluster, type ClusterNode, type TestRedisCluster } from '../support/redisCluster.js';
import { firstSuccess, startStack, streamLoad, streamOnce, tally, type Outcome, type Stack } from '../support/failover.js';
import { startService, waitFor } from '../support/services.js';

/*
 * The spine on a real 6-node Redis Cluster (3 masters, 3 replicas) started
 * by this file: three models whose queues live on three different masters,
 * two ingress nodes, sharded pub/sub for replies and cancels, and a master
 * killed under streaming load.
 */

// Their queue hash tags fall in the three slot ranges `redis-cli --cluster create` gives three masters.
const MODELS = ['alpha', 'beta', 'delta'] as const;
const VICTIM_MODEL = 'alpha';

let cluster: TestRedisCluster;
let stack: Stack;
let prefix: string;
let names: ReturnType<typeof redisNames>;
const ingressIds: string[] = [];

async function masterPortOf(key: string): Promise<number> {
  return (await cluster.masterOf(key)).port;
}

/** An ingress id whose reply channel lives on the master `wanted` says yes to. */
async function ingressIdWhere(wanted: (port: number) => boolean, taken: readonly string[]): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const id = `ing${i}`;
    if (!taken.includes(id) && wanted(await masterPortOf(names.replyChannel(id)))) return id;
  }
  throw new Error('no ingress id found for the wanted shard');
}

beforeAll(async () => {
  if (!hasRedisBinaries()) throw new Error('redis-server and redis-cli are required for the Cluster tests');
  cluster = await startRedisCluster();
  prefix = uniquePrefix();
  names = redisNames(prefix);
  // Ingress 0's replies share a shard with the victim model's queue, so the
  // failover test hits a reply path and a queue at once; ingress 1's do not.
  const victim = await masterPortOf(names.queueName(VICTIM_MODEL));
  ingressIds.push(await ingressIdWhere((p) => p === victim, ingressIds));
  ingressIds.push(await ingressIdWhere((p) => p !== victim, ingressIds));
  stack = await startStack(
    {
      REDIS_CLUSTER_NODES: cluster.seeds,
      REDIS_PREFIX: prefix,
      // Every wait bounded well inside the failover test's client bound.
      QUEUE_WAIT_TIMEOUT_SECONDS: '8',
      JOB_LOCK_SECONDS: '4',
      STALLED_CHECK_SECONDS: '2',
      ORPHAN_WAIT_SECONDS: '8',
    },
    { models: MODELS, ingressIds, itlMs: 5 },
  );
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
});

describe('infergate on a Redis Cluster', () => {
  it('streams and answers chat completions for every model through both ingress nodes', async () => {
    for (const model of MODELS) {
      for (const i of [0, 1]) {
        const stream = await stack.client(i).chat.completions.create({ model, stream: true, max_tokens: 7, messages: [{ role: 'user', content: 'hi' }] });
        let text = '';
        let finish: string | null = null;
        let servedBy = '';
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? '';
          finish = chunk.choices[0]?.finish_reason ?? finish;
          servedBy = chunk.model;
        }
        expect(text).toBe(expectedTokens(7, 'utf8'));
        expect(finish).toBe('length');
        expect(servedBy).toBe(model);
        const res = await stack.client(1 - i).chat.completions.create({ model, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });
        expect(res.choices[0]!.message.content).toBe(expectedTokens(4, 'utf8'));
        expect(res.model).toBe(model);
      }
    }
  });

  it('streams text completions and computes embeddings', async () => {
    const res = await stack.client(0).completions.create({ model: 'beta', prompt: 'once upon', max_tokens: 4 });
    expect(res.choices[0]!.text).toBe(expectedTokens(4, 'utf8'));
    const stream = await stack.client(1).completions.create({ model: 'delta', prompt: 'once upon', max_tokens: 6, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(expectedTokens(6, 'utf8'));
    const embeddings = await stack.client(0).embeddings.create({ model: 'alpha', input: ['a', 'b'] });
    expect(embeddings.data).toHaveLength(2);
  });

  it('keeps each model queue on its own master: CLUSTER KEYSLOT of the queue keys against CLUSTER NODES', async () => {
    const masters = new Map<string, ClusterNode>();
    for (const model of MODELS) masters.set(model, await cluster.masterOf(`${names.bullPrefix}:${names.queueName(model)}:wait`));
    expect(new Set([...masters.values()].map((m) => m.id)).size).toBe(MODELS.length);
    // The queues' keys (written by the requests above) exist on their master and on no other.
    for (const model of MODELS) {
      const pattern = `${names.bullPrefix}:${names.queueName(model)}:*`;
      for (const node of (await cluster.nodes()).filter((n) => n.master)) {
        const [, keys] = (await ask(node.port, 'SCAN', 0, 'MATCH', pattern, 'COUNT', 10_000)) as [string, string[]];
        expect(keys.length > 0, `${model}'s keys on ${node.port}`).toBe(node.id === masters.get(model)!.id);
      }
    }
  });

  it('carries 120 concurrent streams over two ingress nodes and three shards, every token exactly once and in order', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 120 }, (_, i) => streamOnce(stack.client(i % 2), MODELS[i % 3]!, 3 + (i % 10), 30_000)),
    );
    expect(tally(outcomes)).toEqual({ ok: 120 });
    for (const sim of stack.sims) expect(sim.stats().completed).toBeGreaterThan(0);
  }, 60_000);

  it('relays over sharded pub/sub: reply and control channels are shard channels on their own master, none is broadcast', async () => {
    for (const channel of [...ingressIds.map((id) => names.replyChannel(id)), names.controlChannel]) {
      const owner = await masterPortOf(channel);
      expect(await ask(owner, 'PUBSUB', 'SHARDCHANNELS', channel), channel).toEqual([channel]);
    }
    for (const port of cluster.ports) expect(await ask(port, 'PUBSUB', 'CHANNELS', `${prefix}:*`)).toEqual([]);
  });

  it('cancels a running request through the sharded control channel when its client goes away', async () => {
    const sim = stack.sims[MODELS.indexOf('beta')]!;
    const before = sim.stats().cancellations;
    const abort = new AbortController();
    const stream = await stack.client(1).chat.completions.create(
      { model: 'beta', stream: true, max_tokens: 2_000, messages: [{ role: 'user', content: 'long' }] },
      { signal: abort.signal },
    );
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    abort.abort();
    await iterator.return?.().catch(() => undefined);
    // The engine would otherwise run for 2,000 tokens × 5 ms.
    await waitFor(() => sim.stats().cancellations > before, 5_000, 'the engine to see the cancel');
  });

  it('refuses a configuration that mixes the Sentinel and Cluster forms, naming the variables', async () => {
    const dispatcher = startService('dispatcher', {
      ENGINE_URL: 'http://127.0.0.1:9',
      REDIS_CLUSTER_NODES: cluster.seeds,
      REDIS_SENTINELS: '127.0.0.1:26379',
      REDIS_SENTINEL_MASTER: 'mymaster',
    });
    expect(await dispatcher.exited).toBe(78);
    expect(dispatcher.output()).toMatch(/REDIS_CLUSTER_NODES: cannot be combined with REDIS_SENTINELS/);
  });
});

describe('a Cluster master killed under streaming load', () => {
  it('fails over: in-flight requests complete or fail clearly, new requests succeed within 10 s, no process exits', async () => {
    const victim = await cluster.masterOf(names.queueName(VICTIM_MODEL));
    const stopLoad = new AbortController();
    const early: Outcome[] = [];
    const load = streamLoad(stack, MODELS, { concurrency: 24, maxTokens: 60, timeoutMs: 30_000, until: stopLoad.signal }, early);
    await waitFor(() => early.length >= 24, 20_000, 'the load under way');

    const killedAt = Date.now();
    await cluster.kill(victim.port);
    const [heir, recovery] = await Promise.all([
      cluster.waitForFailover(victim.port).then((node) => ({ node, ms: Date.now() - killedAt })),
      firstSuccess(() => streamOnce(stack.client(0), VICTIM_MODEL, 10, 30_000), killedAt, { timeoutMs: 10_000 }),
    ]);
    stopLoad.abort();
    const outcomes = await load;

    const inFlight = outcomes.filter((o) => o.startedAt < killedAt && o.endedAt > killedAt);
    process.stdout.write(
      `cluster failover: master ${victim.port} killed, replica ${heir.node.port} promoted after ${heir.ms} ms; ` +
        `first new ${VICTIM_MODEL} request served ${recovery.ms} ms after the kill; ` +
        `in flight at the kill ${JSON.stringify(tally(inFlight))}; whole load ${JSON.stringify(tally(outcomes))}\n`,
    );
    expect(outcomes.filter((o) => o.kind === 'broken')).toEqual([]);
    expect(outcomes.filter((o) => o.kind === 'ok').length).toBeGreaterThan(0);
    expect(recovery.attempts.filter((o) => o.kind === 'broken')).toEqual([]);
    expect(recovery.ms).toBeLessThan(10_000);

    // After the failover every model answers through every ingress.
    expect(stack.exited()).toEqual([]);
    const after = await Promise.all(
      Array.from({ length: 30 }, (_, i) => streamOnce(stack.client(i % 2), MODELS[i % 3]!, 8, 30_000)),
    );
    expect(tally(after), stack.warnings()).toEqual({ ok: 30 });
    // The killed master's replica took over its slots.
    expect((await cluster.masterOf(names.queueName(VICTIM_MODEL))).port).toBe(heir.node.port);
    const direct = adminConnection(heir.node.port);
    await direct.connect();
    expect(await direct.call('ROLE').then((r) => (r as unknown[])[0])).toBe('master');
    direct.disconnect();
  }, 90_000);
});
