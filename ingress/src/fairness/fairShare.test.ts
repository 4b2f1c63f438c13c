import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngressOperation } from '../metrics.js';
import { createLogger, inferenceJobOptions, InternalFailures, PRIORITY_CLASSES, redisNames, type RedisNames } from '@infergate/shared';
import { startTestRedis, uniquePrefix, type TestRedis } from '../../../tests/support/redis.js';
import { FairShare, type FairTenant, type FairTicket } from './fairShare.js';
import { FairShareMetrics } from './fairShareMetrics.js';
import { QueuePositions } from './queuePositions.js';

/*
 * The fair share's scripts against a real Redis, with one FairShare per
 * simulated ingress node on its own connection, and BullMQ's own queue for
 * the positions. Each test uses its own model, so none shares another's clock.
 */

let redis: TestRedis;
let names: RedisNames;
const connections: Redis[] = [];
const queues: Queue[] = [];
let models = 0;

beforeAll(async () => {
  redis = await startTestRedis();
  names = redisNames(uniquePrefix());
});

afterAll(async () => {
  await Promise.all(queues.map((q) => q.close()));
  for (const c of connections) c.disconnect();
  await redis?.stop();
});

function connection(): Redis {
  const c = new Redis(redis.url);
  connections.push(c);
  return c;
}

function node(): FairShare {
  const c = connection();
  const failures = new InternalFailures<IngressOperation>(createLogger({ name: 'test', level: 'silent' }), { internalFailure: () => undefined });
  const probes = { waitingByClass: async () => [], deficits: async () => [] };
  return new FairShare(c, names, new QueuePositions(c, names), new FairShareMetrics(new Registry(), false, probes, () => []), failures);
}

const tenant = (id: string, weight = 1, priority: number = PRIORITY_CLASSES.normal): FairTenant => ({ id, weight, priority });

async function tickets(fair: FairShare, model: string, who: FairTenant, n: number, cost = 100): Promise<FairTicket[]> {
  const out: FairTicket[] = [];
  for (let i = 0; i < n; i++) out.push(await fair.ticket(model, who, cost));
  return out;
}

describe('fair share', () => {
  it('puts a light tenant beside the job a flooder is being served, not behind its backlog, on another node too', async () => {
    const model = `m${++models}`;
    const [one, two] = [node(), node()];
    const flood = await tickets(one, model, tenant('a'), 20);
    expect(flood.map((t) => t.priority)).toEqual([...flood.map((t) => t.priority)].sort((x, y) => x - y));
    // The fleet starts A's first four jobs.
    for (const t of flood.slice(0, 4)) await one.started(model, t);
    const light = await tickets(two, model, tenant('b'), 2);
    expect(light[0]!.priority).toBe(flood[3]!.priority);
    expect(light[0]!.lead).toBe(0);
    // B's second job goes after A's next one, not after A's twentieth.
    expect(light[1]!.priority).toBe(flood[4]!.priority);
    expect(flood[19]!.lead).toBeGreaterThan(0);
  });

  it('gives a tenant of weight 2 twice the tokens of one of weight 1 while both wait', async () => {
    const model = `m${++models}`;
    const fair = node();
    const heavy = await tickets(fair, model, tenant('w1'), 12);
    const double = await tickets(fair, model, tenant('w2', 2), 12);
    const order = [...heavy.map((t) => ({ who: 'w1', p: t.priority })), ...double.map((t) => ({ who: 'w2', p: t.priority }))].sort((x, y) => x.p - y.p);
    const firstTwelve = order.slice(0, 12).map((o) => o.who);
    expect(firstTwelve.filter((w) => w === 'w2').length).toBe(8);
  });

  it('charges the tokens served instead of the estimate once a job ends', async () => {
    const model = `m${++models}`;
    const fair = node();
    const [first] = await tickets(fair, model, tenant('a'), 1, 1_000);
    await fair.settled(model, first!, 100);
    const [second] = await tickets(fair, model, tenant('a'), 1, 1_000);
    expect(second!.start).toBe(first!.start + 100);
  });

  it('keeps each priority class in its own band', async () => {
    const model = `m${++models}`;
    const fair = node();
    const low = await tickets(fair, model, tenant('l', 1, PRIORITY_CLASSES.low), 50, 4_000);
    const high = await tickets(fair, model, tenant('h', 1, PRIORITY_CLASSES.high), 50, 4_000);
    expect(Math.max(...high.map((t) => t.priority))).toBeLessThan(PRIORITY_CLASSES.normal);
    expect(Math.min(...low.map((t) => t.priority))).toBeGreaterThanOrEqual(PRIORITY_CLASSES.low);
    expect(high[0]!.priorityClass).toBe('high');
  });

  it('reads a waiting job’s position from BullMQ’s order and the drain rate from every node’s starts', async () => {
    const model = `m${++models}`;
    const [one, two] = [node(), node()];
    const queue = new Queue(names.queueName(model), { connection: connection(), prefix: names.bullPrefix });
    queues.push(queue);
    const [early, late] = await tickets(one, model, tenant('a'), 2);
    const [light] = await tickets(one, model, tenant('b'), 1);
    await queue.add('request', {}, inferenceJobOptions('early', early!.priority));
    await queue.add('request', {}, inferenceJobOptions('late', late!.priority));
    await queue.add('request', {}, inferenceJobOptions('light', light!.priority));
    expect(await one.position(model, 'early')).toBe(1);
    expect(await one.position(model, 'light')).toBe(2);
    expect(await one.position(model, 'late')).toBe(3);
    expect(await one.position(model, 'gone')).toBeUndefined();
    expect(await new QueuePositions(connection(), names).waitingByClass([model])).toEqual([{ model, counts: { high: 0, normal: 3, low: 0 } }]);
    expect(await one.drainPerSecond(model)).toBeUndefined();
    await one.started(model, early!);
    await two.started(model, light!);
    expect(await two.drainPerSecond(model)).toBeGreaterThan(0);
  });
});
