import {
  DAY_TOTAL_FIELD,
  gatewayError,
  modelFieldPrefix,
  utcDay,
  utcMonth,
  type RedisClient,
  type RedisNames,
  type TokenUsage,
} from '@infergate/shared';
import type { Principal } from '../auth/principal.js';
import type { IngressFailures } from '../metrics.js';

/*
 * Token accounting and token limits, shared by every ingress through Redis.
 *
 * A request's cost is known only when it ends, so a finished request is
 * charged then, in one script call that also writes its usage record (no
 * round trip before its first token), and a key already over a limit gets
 * no new work: admission reads the key's standing, one script call, and
 * only for keys that have a token limit at all. A request that is running
 * is never cut; the one that crosses a limit finishes, the next is refused.
 *
 * tpm: GCRA over a one-minute window with a request's tokens as its weight,
 * like the request rate limit: a key may spend a minute's tokens at once,
 * then waits until the window has room again, and the refusal says when.
 * Budgets: the day's total (the day hash's `tokens` field) and the month's
 * counter, against daily_tokens and monthly_tokens; they reset at 00:00 UTC.
 */

const WITHIN = 0;
const OVER_TPM = 1;
const OVER_DAY = 2;
const OVER_MONTH = 3;

// KEYS: day hash, month counter, tpm state. ARGV: model field prefix, prompt, cached, completion, error (0/1),
// estimated (0/1), day ttl s, month ttl s, tpm.
const CHARGE = `
local f = ARGV[1]
local tokens = tonumber(ARGV[2]) + tonumber(ARGV[4])
redis.call('HINCRBY', KEYS[1], f .. 'requests', 1)
if tonumber(ARGV[2]) > 0 then redis.call('HINCRBY', KEYS[1], f .. 'prompt_tokens', ARGV[2]) end
if tonumber(ARGV[3]) > 0 then redis.call('HINCRBY', KEYS[1], f .. 'cached_prompt_tokens', ARGV[3]) end
if tonumber(ARGV[4]) > 0 then redis.call('HINCRBY', KEYS[1], f .. 'completion_tokens', ARGV[4]) end
if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[1], f .. 'errors', 1) end
if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[1], f .. 'estimated', 1) end
redis.call('HINCRBY', KEYS[1], '${DAY_TOTAL_FIELD}', tokens)
redis.call('EXPIRE', KEYS[1], ARGV[7])
if tokens > 0 then
  redis.call('INCRBY', KEYS[2], tokens)
  redis.call('EXPIRE', KEYS[2], ARGV[8])
  local tpm = tonumber(ARGV[9])
  if tpm > 0 then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local tat = tonumber(redis.call('GET', KEYS[3]) or now)
    if tat < now then tat = now end
    tat = tat + tokens * 60000 / tpm
    redis.call('SET', KEYS[3], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
  end
end
`;

// KEYS: day hash, month counter, tpm state. ARGV: tpm, daily, monthly. Returns {verdict, retry ms for tpm}.
const STANDING = `
local tpm = tonumber(ARGV[1])
if tpm > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', KEYS[3]) or now)
  if tat - 60000 > now then return {${OVER_TPM}, math.ceil(tat - 60000 - now)} end
end
local daily = tonumber(ARGV[2])
if daily > 0 and tonumber(redis.call('HGET', KEYS[1], '${DAY_TOTAL_FIELD}') or 0) >= daily then return {${OVER_DAY}, 0} end
local monthly = tonumber(ARGV[3])
if monthly > 0 and tonumber(redis.call('GET', KEYS[2]) or 0) >= monthly then return {${OVER_MONTH}, 0} end
return {${WITHIN}, 0}
`;

interface LedgerScripts {
  infergateUsageCharge(day: string, month: string, tpm: string, ...args: Array<string | number>): Promise<unknown>;
  infergateUsageStanding(day: string, month: string, tpm: string, tpmLimit: number, daily: number, monthly: number): Promise<[number, number]>;
}

export interface LedgerSettings {
  readonly retentionDays: number;
}

const DAY_S = 86_400;
/** A month counter outlives its month by a day: the budget of the month's last hours must still see it. */
const MONTH_TTL_S = 32 * DAY_S;

const bucketOf = (principal: Principal): string => `${principal.kind}:${principal.id}`;

export class UsageLedger {
  private readonly redis: RedisClient & LedgerScripts;
  /** Principals this process already listed for today's readers; the index write is once a day, not per request. */
  private listed = { day: '', principals: new Set<string>() };

  constructor(
    redis: RedisClient,
    private readonly names: RedisNames,
    private readonly settings: LedgerSettings,
    private readonly failures: IngressFailures,
  ) {
    redis.defineCommand('infergateUsageCharge', { numberOfKeys: 3, lua: CHARGE });
    redis.defineCommand('infergateUsageStanding', { numberOfKeys: 3, lua: STANDING });
    this.redis = redis as RedisClient & LedgerScripts;
  }

  /** Refuses new work for a key already over one of its token limits: a 429 naming the limit, with Retry-After. */
  async admit(principal: Principal, now = Date.now()): Promise<void> {
    if (principal.tpm === 0 && principal.dailyTokens === 0 && principal.monthlyTokens === 0) return;
    const bucket = bucketOf(principal);
    let verdict: [number, number];
    try {
      verdict = await this.redis.infergateUsageStanding(
        this.names.usageDay(bucket, utcDay(now)),
        this.names.usageMonth(bucket, utcMonth(now)),
        this.names.tokenRate(bucket),
        principal.tpm,
        principal.dailyTokens,
        principal.monthlyTokens,
      );
    } catch (err) {
      throw gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err });
    }
    const [outcome, retryMs] = verdict;
    if (outcome === OVER_TPM) {
      throw gatewayError('token_rate_limited', `Token rate limit reached: ${principal.tpm} tokens per minute (tpm).`, { retryAfterSeconds: retryMs / 1000 });
    }
    if (outcome === OVER_DAY) {
      throw gatewayError('daily_token_budget_exceeded', `Daily token budget used up: ${principal.dailyTokens} tokens (daily_tokens); it resets at 00:00 UTC.`, {
        retryAfterSeconds: secondsUntil(nextDayStart(now), now),
      });
    }
    if (outcome === OVER_MONTH) {
      throw gatewayError('monthly_token_budget_exceeded', `Monthly token budget used up: ${principal.monthlyTokens} tokens (monthly_tokens); it resets on the 1st, 00:00 UTC.`, {
        retryAfterSeconds: secondsUntil(nextMonthStart(now), now),
      });
    }
  }

  /** Charges a finished request and adds it to its key's record; fire and forget, off the response's path. */
  record(principal: Principal, model: string, usage: TokenUsage | undefined, failed: boolean, now = Date.now()): void {
    const bucket = bucketOf(principal);
    const day = utcDay(now);
    const dayTtl = Math.ceil((nextDayStart(now) - now) / 1000) + this.settings.retentionDays * DAY_S;
    this.redis
      .infergateUsageCharge(
        this.names.usageDay(bucket, day),
        this.names.usageMonth(bucket, utcMonth(now)),
        this.names.tokenRate(bucket),
        modelFieldPrefix(model),
        usage?.prompt_tokens ?? 0,
        usage?.cached_prompt_tokens ?? 0,
        usage?.completion_tokens ?? 0,
        failed ? 1 : 0,
        usage?.estimated ? 1 : 0,
        dayTtl,
        MONTH_TTL_S,
        principal.tpm,
      )
      // Lost: the record misses this request and its tokens are not charged; counted, and logged once per outage.
      .catch((err: unknown) => this.failures.report('usage_record', err, 'usage not recorded; the request is not charged', { principal: bucket }));
    this.list(bucket, day, now);
  }

  private list(bucket: string, day: string, now: number): void {
    if (this.listed.day !== day) {
      this.listed = { day, principals: new Set() };
      const expired = nextDayStart(now) - (this.settings.retentionDays + 1) * DAY_S * 1000;
      // Left for the next day's first request to prune: an index entry past retention only costs readers an empty read.
      this.redis.zremrangebyscore(this.names.usagePrincipals, '-inf', expired).catch((err: unknown) => this.failures.report('usage_index', err, 'usage index not pruned'));
    }
    if (this.listed.principals.has(bucket)) return;
    this.listed.principals.add(bucket);
    this.redis.zadd(this.names.usagePrincipals, now, bucket).catch((err: unknown) => {
      // Listed again by the next request of this key: readers find its records once one index write lands.
      this.listed.principals.delete(bucket);
      this.failures.report('usage_index', err, 'principal not added to the usage index', { principal: bucket });
    });
  }
}

const nextDayStart = (now: number): number => Math.floor(now / (DAY_S * 1000) + 1) * DAY_S * 1000;
function nextMonthStart(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}
const secondsUntil = (at: number, now: number): number => Math.max(1, Math.ceil((at - now) / 1000));
