import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  affinityKeys,
  createLogger,
  createRedis,
  createSubscriber,
  indexRecord,
  InternalFailures,
  RECORD_HOLDER_SCRIPT,
  redisNames,
  waitReady,
  type AffinityKeys,
  type RedisClient,
  type Subscriber,
} from '@infergate/shared';
import { startTestRedis, uniquePrefix, type TestRedis } from '../../../tests/support/redis.js';
import type { IngressOperation } from '../metrics.js';
import { KnownHeads } from './knownHeads.js';

/*
 * The ingress's copy of the index heads against a real Redis, fed the way
 * dispatchers feed it: the record script, then the announcement.
 */

let redis: TestRedis;
let commands: RedisClient;
let subscriberConnection: RedisClient;
let known: KnownHeads;
/** Stands for another ingress's reply channel: where the answer's end frame goes after the announcement. */
let replies: Subscriber;
let answered: () => void = () => undefined;
const names = redisNames(uniquePrefix());
const MODEL = 'm';
const TTL_SECONDS = 60;

beforeAll(async () => {
  redis = await startTestRedis();
  const target = { form: 'single', url: redis.url, credentials: {}, tls: false } as const;
  commands = createRedis(target, 'command', 'known-heads-test');
  subscriberConnection = createRedis(target, 'subscriber', 'known-heads-test-subscriber');
  await waitReady(commands);
  replies = createSubscriber(createRedis(target, 'subscriber', 'known-heads-test-replies'));
  await replies.subscribe(names.replyChannel('other'), () => answered());
  known = new KnownHeads(createSubscriber(subscriberConnection), commands, names, 1_000, new InternalFailures<IngressOperation>(createLogger({ name: 'test', level: 'silent' })));
});

afterAll(async () => {
  known?.close();
  replies?.close();
  commands?.disconnect();
  await redis?.stop();
});

let prompts = 0;
function request(session?: string): AffinityKeys {
  prompts++;
  return affinityKeys({ messages: [{ role: 'user', content: `${prompts} `.repeat(300) }] }, { header: session, principal: undefined }, { blockChars: 256, maxBlocks: 8, userAsSession: false })!;
}

/**
 * What a dispatcher does once its engine answered a request with `keys`, up to the answer's end frame
 * reaching a client's ingress: published after the announcement on the same connection, as the
 * dispatcher does. Only then can the client send its next turn.
 */
async function record(keys: AffinityKeys): Promise<void> {
  const record = indexRecord(names, MODEL, { blocks: keys.chain.hashes, session: keys.session }, { dispatcher: 'd1', epoch: 'e1' }, TTL_SECONDS);
  await commands.eval(RECORD_HOLDER_SCRIPT, record.keys.length, ...record.keys, ...record.args);
  await commands.publish(record.channel, record.announcement);
  const delivered = new Promise<void>((resolve) => (answered = resolve));
  await commands.publish(names.replyChannel('other'), 'end');
  await delivered;
}

const trusted = () => known.sizes().has(MODEL);

describe('known heads', () => {
  const before = request();

  it('looks every request up until its copy is loaded, then only those whose heads an engine served, before or since', async () => {
    await record(before);
    const unseen = request();
    expect(await known.absent(MODEL, unseen)).toBe(false);
    await expect.poll(trusted).toBe(true);
    expect(await known.absent(MODEL, before)).toBe(false);
    expect(await known.absent(MODEL, unseen)).toBe(true);
  });

  it("knows a turn's heads once its answer has reached a client, even with the announcement still unread", async () => {
    await expect.poll(trusted).toBe(true);
    for (let i = 0; i < 20; i++) {
      const next = request();
      await record(next);
      expect(await known.absent(MODEL, next)).toBe(false);
    }
  });

  it('knows a session by itself, whatever the prompt', async () => {
    const first = request('conversation-1');
    await record(first);
    expect(await known.absent(MODEL, first)).toBe(false);
    expect(await known.absent(MODEL, request('conversation-1'))).toBe(false);
    expect(await known.absent(MODEL, request('conversation-2'))).toBe(true);
  });

  it('forgets a head once its entry has expired', () => {
    const expired = Date.now() + TTL_SECONDS * 1000 + 10_000;
    expect(known.absentNow(MODEL, before, expired)).toBe(true);
  });

  it('stops trusting its copy when its subscriber loses the connection, and trusts it again once reloaded', async () => {
    await commands.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await expect.poll(trusted).toBe(false);
    expect(await known.absent(MODEL, request())).toBe(false);
    await expect.poll(trusted).toBe(true);
    const missed = request();
    await record(missed);
    expect(await known.absent(MODEL, missed)).toBe(false);
  });
});
