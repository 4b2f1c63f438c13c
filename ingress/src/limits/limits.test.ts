import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngressOperation } from '../metrics.js';
import { Redis } from 'ioredis';
import { createLogger, InternalFailures, type RedisNames, redisNames } from '@infergate/shared';
import { startTestRedis, uniquePrefix, type TestRedis } from '../../../tests/support/redis.js';
import { waitFor } from '../../../tests/support/services.js';
import { refusal, testPrincipal } from '../../../tests/support/principals.js';
import type { Principal } from '../auth/principal.js';
import { KeyLimiter } from './keyLimiter.js';

/*
 * The per-key limiter against a real Redis, with one limiter per simulated
 * ingress node, each on its own connection as separate processes would be.
 */

let redis: TestRedis;
const connections: Redis[] = [];
const limiters: KeyLimiter[] = [];
let names: RedisNames;

beforeAll(async () => {
  redis = await startTestRedis();
  names = redisNames(uniquePrefix());
});

afterAll(async () => {
  for (const l of limiters) l.close();
  for (const c of connections) c.disconnect();
  await redis?.stop();
});

function node(leaseMs = 30_000): KeyLimiter {
  const connection = new Redis(redis.url);
  connections.push(connection);
  const failures = new InternalFailures<IngressOperation>(createLogger({ name: 'test', level: 'silent' }), { internalFailure: () => undefined });
  const limiter = new KeyLimiter(connection, names, leaseMs, failures);
  limiters.push(limiter);
  return limiter;
}

const principal = (limits: Partial<Principal>): Principal => testPrincipal(limits, 'k');


describe('per-key limits across ingress nodes', () => {
  it('allows a minute’s requests at once, then refuses with the wait until the next one', async () => {
    const [a, b] = [node(), node()];
    const p = principal({ rpm: 3 });
    for (const [i, limiter] of [a, b, a].entries()) expect(await refusal(limiter.acquire(p, `r${i}`))).toBeUndefined();
    const refused = await refusal(b.acquire(p, 'r3'));
    expect(refused?.code).toBe('rate_limited');
    expect(refused?.status).toBe(429);
    // GCRA: one request per 20 s after the burst.
    expect(refused!.retryAfterSeconds).toBeGreaterThan(19);
    expect(refused!.retryAfterSeconds).toBeLessThanOrEqual(20);
    // Another key has its own allowance.
    expect(await refusal(a.acquire(principal({ rpm: 3 }), 'other'))).toBeUndefined();
  });

  it('never admits more than the concurrency limit, however the requests race', async () => {
    const nodes = [node(), node(), node()];
    const p = principal({ concurrent: 5 });
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => refusal(nodes[i % 3]!.acquire(p, `c${i}`))));
    expect(results.filter((r) => r === undefined)).toHaveLength(5);
    expect(results.filter((r) => r?.code === 'concurrency_limited')).toHaveLength(55);
    expect(await direct().zcard(names.principalLeases(`key:${p.id}`))).toBe(5);
  });

  it('gives a slot back when the request settles, once', async () => {
    const [a, b] = [node(), node()];
    const p = principal({ concurrent: 1 });
    const release = await a.acquire(p, 'one');
    expect((await refusal(b.acquire(p, 'two')))?.code).toBe('concurrency_limited');
    release();
    release();
    // The release travels on a's connection and b asks on its own: wait for it to land.
    const view = direct();
    await waitFor(async () => (await view.zscore(names.principalLeases(`key:${p.id}`), 'one')) === null, 5_000, 'the lease released');
    const again = await b.acquire(p, 'two');
    expect((await refusal(a.acquire(p, 'three')))?.code).toBe('concurrency_limited');
    again();
  });

  it('frees the slots of an ingress that died after the lease, and keeps a live one’s', async () => {
    const live = node(1_500);
    const dying = node(1_500);
    const survivor = node(1_500);
    const p = principal({ concurrent: 2 });
    await live.acquire(p, 'live');
    await dying.acquire(p, 'dying');
    dying.close(); // no more renewals, no release: as if the process was killed
    expect((await refusal(survivor.acquire(p, 'x')))?.code).toBe('concurrency_limited');
    const leases = names.principalLeases(`key:${p.id}`);
    const view = direct();
    const expiry = async (rid: string) => Number(await view.zscore(leases, rid));
    const dyingExpiry = await expiry('dying');
    // Redis's clock has passed the dead lease's expiry, and the live node has renewed its own beyond it.
    await waitFor(async () => Date.now() > dyingExpiry && (await expiry('live')) > dyingExpiry, 10_000, 'the dead lease to lapse');
    // The dead node's lease expired; the live node renewed its own.
    expect(await refusal(survivor.acquire(p, 'y'))).toBeUndefined();
    expect((await refusal(survivor.acquire(p, 'z')))?.code).toBe('concurrency_limited');
  });

  it('touches Redis only for keys that have limits, under one hash tag per key', async () => {
    const p = principal({});
    const before = await direct().dbsize();
    (await node().acquire(p, 'free'))();
    expect(await direct().dbsize()).toBe(before);
    const tag = (key: string) => /\{[^}]*\}/.exec(key)?.[0];
    expect(tag(names.principalRate('tenant:a{b}'))).toBe(tag(names.principalLeases('tenant:a{b}')));
    expect(tag(names.principalRate('key:a'))).not.toBe(tag(names.principalRate('key:b')));
  });
});

function direct(): Redis {
  const c = new Redis(redis.url);
  connections.push(c);
  return c;
}
