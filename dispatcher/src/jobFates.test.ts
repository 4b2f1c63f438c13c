import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createRedis, InternalFailures, redisNames, waitReady, type RedisClient } from '@infergate/shared';
import { startTestRedis, uniquePrefix, type TestRedis } from '../../tests/support/redis.js';
import { CapacityGate } from './capacityGate.js';
import { JobFates } from './jobFates.js';
import { DispatcherMetrics, type DispatcherOperation } from './metrics.js';

/*
 * The never-run-twice record against a real Redis: what a dispatcher writes
 * after the head is what a second attempt reads, and a write that Redis
 * refuses (here: the server stopped) is logged and counted, not lost silently.
 */

let redis: TestRedis;
let commands: RedisClient;

beforeAll(async () => {
  redis = await startTestRedis();
  commands = createRedis({ form: 'single', url: redis.url, credentials: {}, tls: false }, 'command', 'test-fates');
  commands.on('error', () => undefined);
  await waitReady(commands);
});

afterAll(async () => {
  commands.disconnect();
  await redis.stop();
});

function setup() {
  const metrics = new DispatcherMetrics({ dispatcherId: 'd1', gate: new CapacityGate(), draining: () => false, redisConnections: () => ({}) });
  const warnings: Array<Record<string, unknown>> = [];
  const logger = createLogger({ name: 'test', level: 'warn', destination: { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) } });
  const failures = new InternalFailures<DispatcherOperation>(logger, metrics);
  const fates = new JobFates(commands, redisNames(uniquePrefix()), { dispatcherId: 'd1', ttlSeconds: 60 }, failures);
  const failuresOf = async (operation: DispatcherOperation) => {
    const metric = await metrics.registry.getSingleMetric('infergate_dispatcher_internal_failures_total')!.get();
    return metric.values.find((v) => v.labels.operation === operation)?.value ?? 0;
  };
  return { fates, warnings, failuresOf };
}

async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('job fates', () => {
  it('a started job reads back as started on this dispatcher; an unknown one has no fate', async () => {
    const { fates } = setup();
    expect(await fates.read('r-none')).toBeUndefined();
    fates.recordStarted('r1');
    expect(await until(() => fates.read('r1'), (f) => f !== undefined)).toEqual({ kind: 'started', dispatcher: 'd1' });
  });

  it('counts and logs a record that Redis does not take, naming the request', async () => {
    const { fates, warnings, failuresOf } = setup();
    expect(await failuresOf('job_fate_write')).toBe(0);
    expect(redis.controllable, 'needs a Redis this file may kill').toBe(true);
    await redis.kill();
    await until(() => commands.status, (s) => s !== 'ready');
    fates.recordStarted('r-lost');
    expect(await until(() => failuresOf('job_fate_write'), (n) => n > 0)).toBe(1);
    expect(warnings).toContainEqual(expect.objectContaining({ level: 40, rid: 'r-lost', operation: 'job_fate_write' }));
  });
});
