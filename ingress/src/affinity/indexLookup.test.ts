import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { affinityKeys, redisNames, type RedisClient } from '@infergate/shared';
import { IndexLookup } from './indexLookup.js';

/*
 * The lookup's deadline against the event loop's order. The "Redis" here is
 * a loopback socket whose bytes stand for the reply: written before this
 * process gets busy, they are in the kernel when it is done, as a fast
 * Redis's reply would be.
 */

let server: ReturnType<typeof createServer>;
let peer: Socket;
let client: Socket;

beforeAll(async () => {
  server = createServer((s) => (peer = s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  while (!peer) await new Promise((r) => setImmediate(r));
});

afterAll(() => {
  client.destroy();
  peer.destroy();
  server.close();
});

const keys = affinityKeys({ messages: [{ role: 'user', content: 'x'.repeat(600) }] }, { header: undefined, principal: undefined }, { blockChars: 256, maxBlocks: 8, userAsSession: false })!;
const reply = (): [Error | null, unknown][] => [[null, keys.chain.hashes.map(() => null)], [null, 0], [null, 0]];

/** A client whose pipelines answer when the socket next reads bytes (`answers`), or never. */
function redisAnswering(answers: boolean): RedisClient {
  const pipeline = {
    mget: () => pipeline,
    llen: () => pipeline,
    zcard: () => pipeline,
    exec: () => new Promise((resolve) => (answers ? client.once('data', () => resolve(reply())) : undefined)),
  };
  return { pipeline: () => pipeline } as unknown as RedisClient;
}

describe('index lookup', () => {
  it('takes a reply that came while this process was busy past the budget, rather than calling it a timeout', async () => {
    const lookup = new IndexLookup(redisAnswering(true), redisNames('p'), 2);
    const pending = lookup.read('m', keys, ['d0']);
    peer.write('+reply\r\n');
    // The event loop is held past the budget: the timer and the reply are both due when it runs again.
    const until = performance.now() + 20;
    while (performance.now() < until);
    expect(await pending).toEqual({ reading: { session: [], blocks: keys.chain.hashes.map(() => []), laneWaiting: new Map([['d0', 0]]) } });
  });

  it('gives up at the budget when Redis does not answer', async () => {
    const lookup = new IndexLookup(redisAnswering(false), redisNames('p'), 5);
    expect(await lookup.read('m', keys, ['d0'])).toEqual({ failed: 'timeout' });
  });
});
