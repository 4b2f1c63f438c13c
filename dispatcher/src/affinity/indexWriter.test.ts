import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLogger,
  createRedis,
  createSubscriber,
  InternalFailures,
  MAX_INDEX_HOLDERS,
  parseHeadsAnnouncement,
  parseIndexHolders,
  redisNames,
  waitReady,
  type HeadsAnnouncement,
  type InferenceJob,
  type RedisClient,
} from '@infergate/shared';
import { startTestRedis, uniquePrefix, type TestRedis } from '../../../tests/support/redis.js';
import type { DispatcherOperation } from '../metrics.js';
import type { CacheEpoch } from './cacheEpoch.js';
import { IndexWriter } from './indexWriter.js';

let redis: TestRedis;
let commands: RedisClient;

beforeAll(async () => {
  redis = await startTestRedis();
  commands = createRedis({ form: 'single', url: redis.url, credentials: {}, tls: false }, 'command', 'index-writer-test');
  await waitReady(commands);
});

afterAll(async () => {
  commands?.disconnect();
  await redis?.stop();
});

const names = redisNames(uniquePrefix());
const failures = new InternalFailures<DispatcherOperation>(createLogger({ name: 'test', level: 'silent' }));
const job = { rid: 'r1', model: 'm', affinity: { blocks: ['h0', 'h1'], session: 's0' } } as unknown as InferenceJob;
const writer = (id: string, epoch: string) => new IndexWriter(commands, names, id, { current: epoch } as CacheEpoch, 60, failures);
const holdersOf = async (kind: 'b' | 's', hash: string) => parseIndexHolders(await commands.get(names.affinityKey('m', kind, hash))).map((h) => `${h.dispatcher}/${h.epoch}`);

describe('index writer', () => {
  it('names the engines that served a prefix newest first, each once, at most MAX_INDEX_HOLDERS, with the TTL renewed', async () => {
    const ids = Array.from({ length: MAX_INDEX_HOLDERS + 1 }, (_, i) => `d${i}`);
    for (const id of ids) await writer(id, 'e1').record(job);
    // A restarted engine (new epoch) moves to the front, its old entry gone.
    await writer('d2', 'e2').record(job);
    await expect.poll(() => holdersOf('b', 'h1')).toEqual(['d2/e2', 'd4/e1', 'd3/e1', 'd1/e1']);
    expect(await holdersOf('b', 'h0')).toEqual(await holdersOf('b', 'h1'));
    expect(await holdersOf('s', 's0')).toEqual(await holdersOf('b', 'h1'));
    expect(await commands.ttl(names.affinityKey('m', 'b', 'h0'))).toBeGreaterThan(50);
  });

  it('scores the first block and the session in the heads set with their expiry, and announces them', async () => {
    const listener = createSubscriber(createRedis({ form: 'single', url: redis.url, credentials: {}, tls: false }, 'subscriber', 'index-writer-test-listener'));
    const heard: HeadsAnnouncement[] = [];
    await listener.subscribe(names.affinityAnnouncements('m'), (message) => heard.push(parseHeadsAnnouncement(message)!));
    try {
      const recordedAt = Date.now();
      await writer('d9', 'e1').record(job);
      await expect.poll(() => heard).toEqual([{ ttlSeconds: 60, heads: ['b.h0', 's.s0'] }]);
      const scored = await commands.zrange(names.affinityHeads('m'), '0', '-1', 'WITHSCORES');
      expect(scored.filter((_, i) => i % 2 === 0).sort()).toEqual(['b.h0', 's.s0']);
      for (const score of scored.filter((_, i) => i % 2 === 1)) expect(Number(score)).toBeGreaterThan(recordedAt + 50_000);
    } finally {
      listener.close();
    }
  });
});
