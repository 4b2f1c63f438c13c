import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  cancelJob,
  decodeControl,
  decodeFrame,
  encodeBody,
  FrameKind,
  JOB_VERSION,
  parseError,
  QueueInspector,
  readDispatchers,
  redisNames,
  type DispatcherState,
  type InferenceJob,
  type RedisNames,
} from '@infergate/shared';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';

/*
 * The queue inspection shared by the admin API and the CLI, against a real
 * Redis and real BullMQ queues: a worker named like a dispatcher holds jobs,
 * plain subscribers stand in for the ingress reply channel and the
 * dispatchers' control channel.
 */

const MODEL = 'insp/model:1';
let redis: TestRedis;
let client: Redis;
let names: RedisNames;
let queue: Queue;
let inspector: QueueInspector;
const closers: Array<() => Promise<unknown>> = [];

function job(rid: string, extra: Partial<InferenceJob> = {}): InferenceJob {
  return {
    v: JOB_VERSION,
    rid,
    method: 'POST',
    path: '/v1/chat/completions?secret=1',
    headers: { 'content-type': 'application/json' },
    body: encodeBody(Buffer.from('{"messages":[{"role":"user","content":"the prompt"}]}')),
    model: MODEL,
    stream: true,
    deadline: Date.now() + 60_000,
    replyTo: names.replyChannel('ing-1'),
    enqueuedAt: Date.now(),
    ...extra,
  };
}

async function add(rid: string, priority?: number): Promise<void> {
  await queue.add('request', job(rid), { jobId: rid, ...(priority === undefined ? {} : { priority }) });
}

async function subscribe(channel: string): Promise<Buffer[]> {
  const sub = new Redis(redis.url);
  closers.push(async () => sub.disconnect());
  const got: Buffer[] = [];
  sub.on('messageBuffer', (_ch: Buffer, message: Buffer) => got.push(message));
  await sub.subscribe(channel);
  return got;
}

async function until<T>(read: () => T | undefined, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = read();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  redis = await startTestRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  names = redisNames(uniquePrefix());
  queue = new Queue(names.queueName(MODEL), { connection: client, prefix: names.bullPrefix });
  inspector = new QueueInspector(client, () => queue);
});

afterAll(async () => {
  for (const close of closers) await close();
  await queue?.close();
  client?.disconnect();
  await redis?.stop();
});

describe('queue inspection', () => {
  it('counts jobs by state and finds the oldest waiting job across priorities', async () => {
    await add('old-normal', 1000);
    await add('fifo');
    await new Promise((r) => setTimeout(r, 300));
    await add('new-high', 1);
    const summary = await inspector.summary(MODEL);
    expect(summary).toMatchObject({ model: MODEL, queue: names.queueName(MODEL), paused: false });
    expect(summary.counts).toMatchObject({ waiting: 1, prioritized: 2, active: 0, delayed: 0 });
    // The priority head is the newest job; only walking every priority band finds the older one.
    const [high] = await inspector.jobs(MODEL, ['prioritized'], 1);
    expect(high!.id).toBe('new-high');
    expect(summary.oldestAgeMs!).toBeGreaterThanOrEqual(high!.ageMs + 250);
  });

  it('lists jobs with routing metadata only, never the request', async () => {
    const jobs = await inspector.jobs(MODEL, ['waiting', 'prioritized']);
    expect(jobs.map((j) => j.id).sort()).toEqual(['fifo', 'new-high', 'old-normal']);
    const fifo = jobs.find((j) => j.id === 'fifo')!;
    expect(fifo).toEqual({
      id: 'fifo',
      model: MODEL,
      state: 'waiting',
      enqueuedAt: expect.any(Number),
      ageMs: expect.any(Number),
      priority: 0,
      attempts: 0,
      dispatcher: null,
      lane: null,
      keyId: null,
      path: '/v1/chat/completions',
      stream: true,
      position: 1,
    });
    // The queue's own order: the job without a priority, then the most urgent priority.
    expect(Object.fromEntries(jobs.map((j) => [j.id, j.position]))).toEqual({ fifo: 1, 'new-high': 2, 'old-normal': 3 });
    expect(JSON.stringify(jobs)).not.toContain('prompt');
    await expect(inspector.jobs(MODEL, ['waiting'], 0)).rejects.toMatchObject({ code: 'invalid_parameter' });
  });

  it('pauses and resumes a queue', async () => {
    expect((await inspector.setPaused(MODEL, true)).paused).toBe(true);
    expect((await inspector.summary(MODEL)).paused).toBe(true);
    expect((await inspector.setPaused(MODEL, false)).paused).toBe(false);
  });

  it('cancels a waiting job: removes it and sends its client an error frame', async () => {
    const frames = await subscribe(names.replyChannel('ing-1'));
    const result = await cancelJob(inspector, client, names, 'fifo', [MODEL]);
    expect(result).toEqual({ id: 'fifo', model: MODEL, state: 'waiting', action: 'removed', receivers: 1 });
    expect(await queue.getJob('fifo')).toBeUndefined();
    const frame = decodeFrame(await until(() => frames[0]))!;
    expect(frame).toMatchObject({ kind: FrameKind.error, seq: 0, rid: 'fifo' });
    expect(parseError(frame.payload)).toEqual({ code: 'operator_cancelled', message: 'The request was cancelled by an operator.' });
  });

  it('cancels a running job through the control channel, naming the dispatcher that holds it', async () => {
    const worker = new Worker(queue.name, null, { connection: new Redis(redis.url, { maxRetriesPerRequest: null }), prefix: names.bullPrefix, name: 'disp-7', autorun: false });
    closers.push(() => worker.close());
    const taken = await worker.getNextJob('token-1', { block: false });
    expect(taken?.id).toBeDefined();
    const [active] = await inspector.jobs(MODEL, ['active']);
    expect(active).toMatchObject({ id: taken.id, state: 'active', dispatcher: 'disp-7', attempts: 1 });

    const control = await subscribe(names.controlChannel);
    const result = await cancelJob(inspector, client, names, taken.id!, [MODEL]);
    expect(result).toMatchObject({ action: 'cancel_sent', state: 'active', receivers: 1 });
    expect(decodeControl((await until(() => control[0])).toString())).toEqual({ type: 'cancel', rid: taken.id, reason: 'operator_cancelled' });
  });

  it('refuses to cancel a job no queue holds', async () => {
    await expect(cancelJob(inspector, client, names, 'nope', [MODEL])).rejects.toMatchObject({ code: 'job_not_found', status: 404 });
  });

  it('lists live dispatchers first and remembers gone ones with their last heartbeat', async () => {
    const now = Date.now();
    const state = { id: 'live-1', models: [MODEL], ready: true, slots: { total: 2, busy: 1, free: 1 }, updatedAt: now } as unknown as DispatcherState;
    await client.set(names.dispatcherKey('live-1'), JSON.stringify(state), 'EX', 5);
    await client.zadd(names.dispatcherIndex, now, 'live-1', now - 60_000, 'gone-1', now - 7_200_000, 'ancient');
    const list = await readDispatchers(client, names, 3_600_000);
    expect(list.map((d) => [d.id, d.alive])).toEqual([
      ['live-1', true],
      ['gone-1', false],
    ]);
    expect(list[1]).toMatchObject({ lastHeartbeatAt: now - 60_000, state: null });
  });
});
