import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { forEachFrame, FrameKind, parseHead, type Frame } from '@infergate/shared';
import { startTestRedis, uniquePrefix, type TestRedis } from '../../tests/support/redis.js';
import { FrameChannel } from './frameChannel.js';
import { ReplyPublisher } from './replyPublisher.js';

let redis: TestRedis;
let pub: Redis;
let sub: Redis;

beforeAll(async () => {
  redis = await startTestRedis();
  pub = new Redis(redis.url);
  sub = new Redis(redis.url);
});

afterAll(async () => {
  pub.disconnect();
  sub.disconnect();
  await redis.stop();
});

async function collect(channel: string): Promise<Frame[]> {
  const frames: Frame[] = [];
  sub.on('messageBuffer', (ch: Buffer, msg: Buffer) => {
    if (ch.toString() === channel) expect(forEachFrame(Buffer.from(msg), (f) => frames.push(f))).toBe(true);
  });
  await sub.subscribe(channel);
  return frames;
}

/**
 * Resolves once `sub` has received every message published before the call:
 * Redis writes to one subscriber's connection in the order it handles the
 * PUBLISHes, so a marker sent after them arrives after them.
 */
async function receivedSoFar(): Promise<void> {
  const marker = `${uniquePrefix()}:marker`;
  await sub.subscribe(marker);
  const arrived = new Promise<void>((resolve) => {
    const onMessage = (ch: Buffer) => {
      if (ch.toString() !== marker) return;
      sub.off('messageBuffer', onMessage);
      resolve();
    };
    sub.on('messageBuffer', onMessage);
  });
  await pub.publish(marker, 'marker');
  await arrived;
  await sub.unsubscribe(marker);
}

describe('reply publisher', () => {
  it('publishes every byte in order with contiguous sequence numbers, coalescing only behind an in-flight publish', async () => {
    const channel = `${uniquePrefix()}:reply`;
    const frames = await collect(channel);
    const p = new ReplyPublisher(new FrameChannel(pub), channel, 'r1', () => undefined);
    p.head({ status: 200, headers: [['content-type', 'text/event-stream']], dispatcher: 'd' });
    const sent: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const chunk = Buffer.from(`data: {"i":${i},"s":"é"}\n\n`);
      sent.push(chunk);
      p.data(chunk);
    }
    p.end();
    await p.drained();
    await receivedSoFar();
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i));
    expect(frames[0]!.kind).toBe(FrameKind.head);
    expect(parseHead(frames[0]!.payload).status).toBe(200);
    expect(frames.at(-1)!.kind).toBe(FrameKind.end);
    const body = Buffer.concat(frames.filter((f) => f.kind === FrameKind.data).map((f) => f.payload));
    expect(body.equals(Buffer.concat(sent))).toBe(true);
    // 500 chunks pushed in one tick: the first went alone, the rest rode behind it as one frame.
    expect(frames.length).toBeLessThan(10);
  });

  it('puts frames of different requests that are ready together into one message', async () => {
    const channel = `${uniquePrefix()}:reply`;
    const messages: number[] = [];
    sub.on('messageBuffer', (ch: Buffer, msg: Buffer) => {
      if (ch.toString() === channel) messages.push(forEachFrame(Buffer.from(msg), () => undefined) ? 1 : 0);
    });
    await sub.subscribe(channel);
    const frames = new FrameChannel(pub);
    const publishers = Array.from({ length: 20 }, (_, i) => new ReplyPublisher(frames, channel, `r${i}`, () => undefined));
    for (const p of publishers) p.data(Buffer.from('token'));
    await Promise.all(publishers.map((p) => p.drained()));
    await receivedSoFar();
    expect(messages).toEqual([1]);
  });

  it('sends a response that is ready all at once (head, body, end) as one message, with no round trip between its frames', async () => {
    const channel = `${uniquePrefix()}:reply`;
    const messages: Frame[][] = [];
    sub.on('messageBuffer', (ch: Buffer, msg: Buffer) => {
      const frames: Frame[] = [];
      if (ch.toString() === channel) messages.push((forEachFrame(Buffer.from(msg), (f) => frames.push(f)), frames));
    });
    await sub.subscribe(channel);
    const p = new ReplyPublisher(new FrameChannel(pub), channel, 'r3', () => undefined);
    p.head({ status: 200, headers: [['content-type', 'application/json']], dispatcher: 'd' });
    p.data(Buffer.from('{"a":'));
    p.data(Buffer.from('1}'));
    p.end();
    await p.drained();
    await receivedSoFar();
    // A second data chunk waits for the message in flight (joining it would make two data frames); the end rides with it.
    expect(messages.map((m) => m.map((f) => f.kind))).toEqual([[FrameKind.head, FrameKind.data], [FrameKind.data, FrameKind.end]]);
    expect(messages.flat().map((f) => f.seq)).toEqual([0, 1, 2, 3]);
  });

  it('sends the first token without waiting for the head to be acknowledged, and holds a token only behind another token', async () => {
    const channel = `${uniquePrefix()}:reply`;
    const frames = await collect(channel);
    const channelOf = new FrameChannel(pub);
    const p = new ReplyPublisher(channelOf, channel, 'r4', () => undefined);
    const nextTurn = () => new Promise((r) => setImmediate(r));
    p.head({ status: 200, headers: [['content-type', 'text/event-stream']], dispatcher: 'd' });
    await nextTurn();
    // The head's PUBLISH has left and is unacknowledged: the token still goes out in this turn.
    p.data(Buffer.from('data: 1\n\n'));
    expect(channelOf.unsent(channel)).toBeDefined();
    await nextTurn();
    // Now a token is unacknowledged: the next one waits for it.
    p.data(Buffer.from('data: 2\n\n'));
    expect(channelOf.unsent(channel)).toBeUndefined();
    p.end();
    await p.drained();
    await receivedSoFar();
    expect(frames.map((f) => [f.seq, f.kind])).toEqual([
      [0, FrameKind.head],
      [1, FrameKind.data],
      [2, FrameKind.data],
      [3, FrameKind.end],
    ]);
  });

  it('reports a publish that reached nobody, which means the client is gone', async () => {
    let gone = 0;
    const p = new ReplyPublisher(new FrameChannel(pub), `${uniquePrefix()}:nobody`, 'r2', () => gone++);
    p.data(Buffer.from('x'));
    await p.drained();
    expect(gone).toBe(1);
  });
});
