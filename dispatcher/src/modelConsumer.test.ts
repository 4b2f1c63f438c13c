import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '@infergate/shared';
import { CapacityGate } from './capacityGate.js';
import { ModelConsumer, type JobHandler } from './modelConsumer.js';

/*
 * The liveness check of a consumer's BullMQ worker, against a stand-in
 * Worker whose blocking fetch and blocking connection the test controls:
 * a real one only gets stuck in rare failover races (bullmq #4138, #3185).
 */

interface FakeJob {
  readonly id: string;
  moveToWait: ReturnType<typeof vi.fn>;
}

const { FakeWorker } = await vi.hoisted(async () => {
  const { EventEmitter } = await import('node:events');
  class FakeWorker {
    static all: FakeWorker[] = [];
    /** Whether new workers' fetches return empty after the drain delay, as a healthy idle fetch does. */
    static idleByDefault = false;
    failing = false;
    /** Fetches the test ends itself; until it does, they never return. */
    fetches: Array<{ resolve: (job: FakeJob | undefined) => void; token: string }> = [];
    autoIdle = FakeWorker.idleByDefault;
    closed = false;
    blockingStatus = 'ready';
    readonly backend = { blockingClient: Promise.resolve(this.client()) };

    constructor() {
      FakeWorker.all.push(this);
    }

    private client() {
      const client = new EventEmitter();
      Object.defineProperty(client, 'status', { get: () => this.blockingStatus });
      return client;
    }

    on(): this {
      return this;
    }

    async startStalledCheckTimer(): Promise<void> {}

    getNextJob(token: string): Promise<FakeJob | undefined> {
      if (this.failing) return Promise.reject(new Error('Connection is closed.'));
      if (this.autoIdle) return new Promise((r) => setTimeout(() => r(undefined), 1_000));
      return new Promise((resolve) => this.fetches.push({ resolve, token }));
    }

    async extendJobLocks(): Promise<string[]> {
      return [];
    }

    async close(): Promise<void> {
      this.closed = true;
    }
  }
  return { FakeWorker };
});

vi.mock('bullmq', () => ({ Worker: FakeWorker }));

const logger = { warn: vi.fn(), info: vi.fn(), debug: vi.fn() } as unknown as Logger;

function job(id: string): FakeJob {
  return { id, moveToWait: vi.fn(async () => undefined) };
}

function consumer(handle: JobHandler): ModelConsumer {
  const gate = new CapacityGate();
  gate.update({ ready: true, total: 4, outside: 0, blockedBy: undefined });
  return new ModelConsumer(
    { queueName: '{m.x}', model: 'x', prefix: 'ig', connection: {}, dispatcherId: 'd', lockMs: 30_000, stalledCheckMs: 5_000 },
    gate,
    handle,
    logger,
  );
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWorker.all = [];
  FakeWorker.idleByDefault = false;
});

afterEach(() => {
  vi.useRealTimers();
});

describe('model consumer', () => {
  it('survives a job handler that fails (Redis gone mid-job) and frees its slot', async () => {
    const c = consumer(async () => {
      throw new Error('Stream isn\'t writeable and enableOfflineQueue options is false');
    });
    await c.start();
    FakeWorker.all[0]!.fetches[0]!.resolve(job('j'));
    await vi.advanceTimersByTimeAsync(0);
    expect(c.holding).toBe(0);
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ job: 'j' }), 'job handling failed');
  });
});

describe('model consumer liveness', () => {
  it('replaces a worker whose blocking fetch never returns, and closes it once its fetch has had time to return a job', async () => {
    const c = consumer(async () => undefined);
    await c.start();
    FakeWorker.idleByDefault = true;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(FakeWorker.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(FakeWorker.all).toHaveLength(2);
    expect(FakeWorker.all[0]!.closed).toBe(false);
    // The replacement fetches normally; nothing is replaced again.
    await vi.advanceTimersByTimeAsync(30_000);
    expect(FakeWorker.all).toHaveLength(2);
    expect(FakeWorker.all[0]!.closed).toBe(true);
  });

  it('bounds fetches tightly for a while after its connection lost a node', async () => {
    const c = consumer(async () => undefined);
    await c.start();
    (await FakeWorker.all[0]!.backend.blockingClient).emit('-node');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(FakeWorker.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeWorker.all).toHaveLength(2);
    // The replacement's first fetch hangs as well, and goes as quickly.
    await vi.advanceTimersByTimeAsync(3_000);
    expect(FakeWorker.all).toHaveLength(3);
    // Healthy fetches return within the drain delay: nothing more is replaced, before or after the window.
    FakeWorker.all[2]!.autoIdle = true;
    FakeWorker.all[2]!.fetches[0]!.resolve(undefined);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(FakeWorker.all).toHaveLength(3);
  });

  it('replaces a worker whose blocking connection stays down although its fetches return', async () => {
    const c = consumer(async () => undefined);
    await c.start();
    const worker = FakeWorker.all[0]!;
    worker.fetches[0]!.resolve(undefined);
    worker.autoIdle = true;
    worker.blockingStatus = 'reconnecting';
    await vi.advanceTimersByTimeAsync(5_000);
    expect(FakeWorker.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(FakeWorker.all).toHaveLength(2);
    expect(worker.closed).toBe(true);
  });

  it('replaces a worker whose fetches keep failing', async () => {
    const c = consumer(async () => undefined);
    await c.start();
    const worker = FakeWorker.all[0]!;
    worker.failing = true;
    worker.fetches[0]!.resolve(undefined);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(FakeWorker.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(FakeWorker.all).toHaveLength(2);
    expect(worker.closed).toBe(true);
  });

  it('keeps a replaced worker open until the job it fetched is done, and returns a job its abandoned fetch takes late', async () => {
    let finish!: () => void;
    const c = consumer(() => new Promise<void>((r) => (finish = r)));
    await c.start();
    const worker = FakeWorker.all[0]!;
    worker.fetches[0]!.resolve(job('held'));
    await vi.advanceTimersByTimeAsync(0);
    expect(c.holding).toBe(1);
    await vi.advanceTimersByTimeAsync(8_000);
    expect(FakeWorker.all).toHaveLength(2);
    expect(worker.closed).toBe(false);
    const late = job('late');
    worker.fetches[1]!.resolve(late);
    await vi.advanceTimersByTimeAsync(0);
    expect(late.moveToWait).toHaveBeenCalledWith(worker.fetches[1]!.token);
    expect(worker.closed).toBe(false);
    finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(c.holding).toBe(0);
    expect(worker.closed).toBe(true);
  });
});
