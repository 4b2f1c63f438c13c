import { gatewayError, type RedisClient, type RedisNames } from '@infergate/shared';
import type { Principal } from '../auth/principal.js';
import type { Limiter } from '../context.js';
import type { IngressFailures } from '../metrics.js';

/*
 * Per-key limits shared by every ingress node, kept in Redis and decided by
 * one script per request so two nodes can never both take the last slot.
 * Time is Redis's own (TIME), so ingress clocks may disagree.
 *
 * Rate: GCRA over a one-minute window. A key may spend its whole minute's
 * allowance at once, then one request per 60/rpm seconds; the state is a
 * single timestamp, and the refusal says exactly when to retry.
 *
 * Concurrency: a sorted set of the key's open request ids, scored by lease
 * expiry. Live ingresses renew their leases; those of an ingress that died
 * expire after KEY_LEASE_SECONDS and are pruned by the next admission.
 */

const ADMITTED = 0;
const RATE_LIMITED = 1;
const CONCURRENCY_LIMITED = 2;

// KEYS: rate, leases. ARGV: rpm, max concurrent, request id, lease ms.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm = tonumber(ARGV[1])
local maxOpen = tonumber(ARGV[2])
local leaseMs = tonumber(ARGV[4])
if maxOpen > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= maxOpen then return {${CONCURRENCY_LIMITED}, 0} end
end
if rpm > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or now)
  if tat < now then tat = now end
  local nextTat = tat + 60000 / rpm
  if nextTat - 60000 > now then return {${RATE_LIMITED}, math.ceil(nextTat - 60000 - now)} end
  redis.call('SET', KEYS[1], string.format('%.3f', nextTat), 'PX', math.ceil(nextTat - now))
end
if maxOpen > 0 then
  redis.call('ZADD', KEYS[2], now + leaseMs, ARGV[3])
  redis.call('PEXPIRE', KEYS[2], leaseMs)
end
return {${ADMITTED}, 0}
`;

// KEYS: leases. ARGV: lease ms, request ids. XX: a lease released meanwhile stays released.
const RENEW = `
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
`;

interface LimiterScripts {
  infergateLimitAcquire(rate: string, leases: string, rpm: number, concurrent: number, rid: string, leaseMs: number): Promise<[number, number]>;
  infergateLimitRenew(leases: string, leaseMs: number, ...rids: string[]): Promise<unknown>;
}

const NOTHING_HELD = () => undefined;

export class KeyLimiter implements Limiter {
  private readonly redis: RedisClient & LimiterScripts;
  /** Leases this process holds, by leases key, for renewal. */
  private readonly held = new Map<string, Set<string>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    redis: RedisClient,
    private readonly names: RedisNames,
    private readonly leaseMs: number,
    private readonly failures: IngressFailures,
  ) {
    redis.defineCommand('infergateLimitAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand('infergateLimitRenew', { numberOfKeys: 1, lua: RENEW });
    this.redis = redis as RedisClient & LimiterScripts;
    this.timer = setInterval(() => this.renew(), leaseMs / 3);
    this.timer.unref();
  }

  /**
   * Admits one request or throws a 429 with Retry-After. Resolves to the
   * function that gives the request's concurrency slot back; call it once,
   * whichever way the request ends.
   */
  async acquire(principal: Principal, rid: string): Promise<() => void> {
    if (principal.rpm === 0 && principal.concurrent === 0) return NOTHING_HELD;
    const bucket = `${principal.kind}:${principal.id}`;
    const leases = this.names.principalLeases(bucket);
    let verdict: [number, number];
    try {
      verdict = await this.redis.infergateLimitAcquire(
        this.names.principalRate(bucket),
        leases,
        principal.rpm,
        principal.concurrent,
        rid,
        this.leaseMs,
      );
    } catch (err) {
      throw gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err });
    }
    const [outcome, retryMs] = verdict;
    if (outcome === RATE_LIMITED) {
      throw gatewayError('rate_limited', `Rate limit reached: ${principal.rpm} requests per minute.`, { retryAfterSeconds: retryMs / 1000 });
    }
    if (outcome === CONCURRENCY_LIMITED) {
      throw gatewayError('concurrency_limited', `Concurrency limit reached: ${principal.concurrent} requests at once.`, { retryAfterSeconds: 1 });
    }
    if (principal.concurrent === 0) return NOTHING_HELD;
    let open = this.held.get(leases);
    if (!open) this.held.set(leases, (open = new Set()));
    open.add(rid);
    return () => {
      open.delete(rid);
      if (open.size === 0 && this.held.get(leases) === open) this.held.delete(leases);
      // If Redis is away the lease expires on its own within KEY_LEASE_SECONDS, as no renewal names it any more.
      this.redis.zrem(leases, rid).catch((err: unknown) => this.failures.report('lease_release', err, 'concurrency lease not released; it expires on its own', { leases }));
    };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private renew(): void {
    for (const [leases, rids] of this.held) {
      // Leases that miss renewals expire and free the key's slots while their requests still run; the next tick tries again.
      this.redis
        .infergateLimitRenew(leases, this.leaseMs, ...rids)
        .catch((err: unknown) => this.failures.report('lease_renew', err, 'concurrency leases not renewed', { leases, held: rids.size }));
    }
  }
}
