import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngressOperation } from '../metrics.js';
import { Redis } from 'ioredis';
import { createLogger, InternalFailures, readUsage, redisNames, type RedisNames } from '@infergate/shared';
import { startTestRedis, uniquePrefix, type TestRedis } from '../../../tests/support/redis.js';
import { waitFor } from '../../../tests/support/services.js';
import { refusal, testPrincipal } from '../../../tests/support/principals.js';
import type { Principal } from '../auth/principal.js';
import { UsageLedger } from './usageLedger.js';

/*
 * Token budgets against a real Redis, one ledger per simulated ingress
 * node on its own connection. The clock is passed in: the day and month a
 * request is charged to are the ingress's UTC calendar.
 */

let redis: TestRedis;
let names: RedisNames;
let view: Redis;
const connections: Redis[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  names = redisNames(uniquePrefix());
  view = new Redis(redis.url);
});

afterAll(async () => {
  for (const c of [view, ...connections]) c.disconnect();
  await redis?.stop();
});

function node(): UsageLedger {
  const connection = new Redis(redis.url);
  connections.push(connection);
  const failures = new InternalFailures<IngressOperation>(createLogger({ name: 'test', level: 'silent' }), { internalFailure: () => undefined });
  return new UsageLedger(connection, names, { retentionDays: 7 }, failures);
}

const principal = (limits: Partial<Principal>): Principal => testPrincipal(limits, 'budget');

const usage = (prompt: number, completion: number) => ({ prompt_tokens: prompt, cached_prompt_tokens: 0, completion_tokens: completion, estimated: false });
const at = (iso: string) => Date.parse(iso);

/** Waits until `p`'s record of `day` shows `requests` requests: the charge is sent without waiting for it. */
async function recorded(p: Principal, day: string, requests: number): Promise<void> {
  await waitFor(async () => {
    const records = await readUsage(view, names, { key: `key:${p.id}`, since: day }, at(`${day}T12:00:00Z`));
    return records.filter((r) => r.day === day).reduce((sum, r) => sum + r.requests, 0) === requests;
  }, 5_000, `${requests} requests recorded`);
}

describe('token budgets across ingress nodes', () => {
  it('refuses a key whose day is used up until 00:00 UTC, with the seconds left as Retry-After, and admits it the next day', async () => {
    const [a, b] = [node(), node()];
    const p = principal({ dailyTokens: 100 });
    const evening = at('2026-03-10T23:59:00Z');
    await a.admit(p, evening);
    a.record(p, 'm1', usage(40, 30), false, evening);
    b.record(p, 'm2', usage(20, 10), false, evening);
    await recorded(p, '2026-03-10', 2);
    const refused = await refusal(b.admit(p, evening));
    expect(refused).toMatchObject({ code: 'daily_token_budget_exceeded', status: 429 });
    expect(refused!.retryAfterSeconds).toBe(60);
    expect(refused!.message).toMatch(/100 tokens \(daily_tokens\)/);
    expect(await refusal(a.admit(p, at('2026-03-11T00:00:01Z')))).toBeUndefined();
  });

  it('holds the month’s total against monthly_tokens across days, and a new month starts again', async () => {
    const ledger = node();
    const p = principal({ monthlyTokens: 50 });
    ledger.record(p, 'm', usage(20, 5), false, at('2026-04-01T08:00:00Z'));
    ledger.record(p, 'm', usage(20, 5), false, at('2026-04-30T08:00:00Z'));
    await recorded(p, '2026-04-30', 1);
    const refused = await refusal(ledger.admit(p, at('2026-04-30T23:00:00Z')));
    expect(refused).toMatchObject({ code: 'monthly_token_budget_exceeded', status: 429, retryAfterSeconds: 3600 });
    expect(await refusal(ledger.admit(p, at('2026-05-01T00:00:00Z')))).toBeUndefined();
  });

  it('records errors and estimates per model, and a key without token limits costs admission no Redis call', async () => {
    const ledger = node();
    const p = principal({});
    const noon = at('2026-06-02T12:00:00Z');
    ledger.record(p, 'org/model:7b', usage(5, 2), false, noon);
    ledger.record(p, 'org/model:7b', undefined, true, noon);
    ledger.record(p, 'org/model:7b', { ...usage(0, 9), estimated: true }, false, noon);
    await recorded(p, '2026-06-02', 3);
    const [record] = await readUsage(view, names, { key: p.id, since: '2026-06-02' }, noon);
    expect(record).toEqual({
      key: `key:${p.id}`,
      model: 'org/model:7b',
      day: '2026-06-02',
      requests: 3,
      prompt_tokens: 5,
      cached_prompt_tokens: 0,
      completion_tokens: 11,
      errors: 1,
      estimated: true,
    });
    // The record lives its day plus the retention, no longer.
    const ttl = await view.ttl(names.usageDay(`key:${p.id}`, '2026-06-02'));
    expect(ttl).toBeGreaterThan(7 * 86_400);
    expect(ttl).toBeLessThanOrEqual(7 * 86_400 + 12 * 3600 + 5);

    // Never connected and refusing to queue commands: any call would fail the admission.
    const offline = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false });
    connections.push(offline);
    const failures = new InternalFailures<IngressOperation>(createLogger({ name: 'test', level: 'silent' }), { internalFailure: () => undefined });
    expect(await refusal(new UsageLedger(offline, names, { retentionDays: 7 }, failures).admit(p))).toBeUndefined();
  });
});
