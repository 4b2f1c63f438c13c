import {
  PRIORITY_BAND_WIDTH,
  PRIORITY_CLASSES,
  priorityClassOf,
  priorityClassScores,
  type PriorityClass,
  type RedisClient,
  type RedisNames,
} from '@infergate/shared';
import type { FairQueueing } from '../context.js';
import type { IngressFailures } from '../metrics.js';
import type { FairShareMetrics } from './fairShareMetrics.js';
import type { QueuePositions } from './queuePositions.js';

/*
 * Start-time fair queueing within each priority class of a model, with its
 * state in Redis so that every ingress enforces one share. Each class has a
 * virtual clock `v`; each tenant a virtual finish time `f`. A job's start tag
 * is max(v, f), after which f moves on by the job's estimated cost in tokens
 * divided by the tenant's weight; the job's BullMQ priority is its class's
 * band plus its start tag, so the queue serves the lowest tag first. The clock
 * moves to the tag of each job a dispatcher starts. A tenant alone in the
 * queue is served as fast as the fleet allows (nothing else has a lower tag);
 * a tenant arriving behind a flood starts at the clock, i.e. next to the
 * flooder's jobs that are being served now, not behind its whole backlog.
 * When a job ends, its tenant's f is corrected from the estimate to the
 * tokens the engine reported, so shares are shares of tokens served.
 */

/** Tokens of virtual time per step of BullMQ priority: finer would fill a band sooner. */
const TOKENS_PER_STEP = 4;
/**
 * Once the clock is this far into its band, the next enqueue that finds the
 * class's queue empty moves the band's origin to the clock: no waiting job
 * is left to compare with older tags, so the move reorders nothing.
 */
const REBASE_AFTER_STEPS = Math.floor(PRIORITY_BAND_WIDTH / 4);
/** Fair-share state of a model nobody uses any more expires. */
const STATE_TTL_MS = 24 * 3600 * 1000;
/** Departures kept for the drain rate, and how old the newest may be for the rate to count. */
const DRAIN_WINDOW = 64;
const DRAIN_STALE_MS = 60_000;

// KEYS: fair hash, the model queue's prioritized set. ARGV: tenant, cost (virtual tokens),
// band's lowest score, band's highest score, rebase threshold (tokens), ttl ms.
// Returns {start, origin, clock} as strings (Lua numbers become integers otherwise).
const TICKET = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local o = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
if v - o > tonumber(ARGV[5]) and redis.call('ZCOUNT', KEYS[2], ARGV[3], ARGV[4]) == 0 then
  o = v
  redis.call('HSET', KEYS[1], 'o', o)
end
local tenant = 'f:' .. ARGV[1]
local f = tonumber(redis.call('HGET', KEYS[1], tenant) or '0')
local start = math.max(v, f)
redis.call('HSET', KEYS[1], tenant, tostring(start + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {tostring(start), tostring(o), tostring(v)}
`;

// KEYS: fair hash, drain list. ARGV: start tag, window, ttl ms.
const STARTED = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if tonumber(ARGV[1]) > v then redis.call('HSET', KEYS[1], 'v', ARGV[1]) end
local t = redis.call('TIME')
redis.call('LPUSH', KEYS[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
`;

// KEYS: fair hash. ARGV: tenant, correction (virtual tokens). A tenant's f never falls below the clock's past.
const CORRECT = `
local tenant = 'f:' .. ARGV[1]
local f = redis.call('HGET', KEYS[1], tenant)
if not f then return end
redis.call('HSET', KEYS[1], tenant, tostring(math.max(0, tonumber(f) + tonumber(ARGV[2]))))
`;

// KEYS: fair hash. Returns {tenant, lead, …} of the tenants ahead of the clock, and forgets the
// others: a tenant whose f is at or behind the clock starts at the clock, as one never seen does.
const DEFICITS = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local fields = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #fields, 2 do
  local name = fields[i]
  if string.sub(name, 1, 2) == 'f:' then
    local lead = tonumber(fields[i + 1]) - v
    if lead > 0 then
      out[#out + 1] = string.sub(name, 3)
      out[#out + 1] = tostring(lead)
    else
      redis.call('HDEL', KEYS[1], name)
    end
  end
end
return out
`;

// KEYS: drain list. Returns {count, newest, oldest, now}.
const DRAIN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = redis.call('LLEN', KEYS[1])
if n == 0 then return {0, 0, 0, now} end
return {n, tonumber(redis.call('LINDEX', KEYS[1], 0)), tonumber(redis.call('LINDEX', KEYS[1], -1)), now}
`;

interface FairScripts {
  infergateFairTicket(hash: string, prioritized: string, tenant: string, cost: number, lo: number, hi: number, rebase: number, ttl: number): Promise<[string, string, string]>;
  infergateFairStarted(hash: string, drain: string, start: number, window: number, ttl: number): Promise<unknown>;
  infergateFairCorrect(hash: string, tenant: string, delta: number): Promise<unknown>;
  infergateFairDrain(drain: string): Promise<[number, number, number, number]>;
  infergateFairDeficits(hash: string): Promise<string[]>;
}

export interface ClassDeficits {
  readonly model: string;
  readonly priorityClass: PriorityClass;
  /** Tenant → virtual tokens ahead of the clock, for the tenants that are. */
  readonly leads: ReadonlyMap<string, number>;
}

/** One queued job's place in its tenant's share. */
export interface FairTicket {
  readonly priority: number;
  readonly priorityClass: PriorityClass;
  readonly tenant: string;
  /** Virtual start tag (tokens). */
  readonly start: number;
  /** How far the tenant was ahead of the clock when the job was queued (virtual tokens): 0 for a tenant within its share. */
  readonly lead: number;
  /** The cost charged at enqueue (virtual tokens), corrected when the job ends. */
  readonly cost: number;
  readonly weight: number;
}

export interface FairTenant {
  readonly id: string;
  readonly weight: number;
  /** The class's first BullMQ priority (PRIORITY_CLASSES). */
  readonly priority: number;
}

/** The tenant of requests on an open ingress: one share for everybody, which is arrival order. */
export const OPEN_TENANT: FairTenant = { id: '', weight: 1, priority: PRIORITY_CLASSES.normal };

/** The fair queue's Redis side: tickets at enqueue, the clock at start, corrections at the end. */
export class FairShare implements FairQueueing {
  private readonly redis: RedisClient & FairScripts;

  constructor(
    redis: RedisClient,
    private readonly names: RedisNames,
    private readonly positions: QueuePositions,
    readonly metrics: FairShareMetrics,
    private readonly failures: IngressFailures,
  ) {
    redis.defineCommand('infergateFairTicket', { numberOfKeys: 2, lua: TICKET });
    redis.defineCommand('infergateFairStarted', { numberOfKeys: 2, lua: STARTED });
    redis.defineCommand('infergateFairCorrect', { numberOfKeys: 1, lua: CORRECT });
    redis.defineCommand('infergateFairDrain', { numberOfKeys: 1, lua: DRAIN });
    redis.defineCommand('infergateFairDeficits', { numberOfKeys: 1, lua: DEFICITS });
    this.redis = redis as RedisClient & FairScripts;
  }

  /** Charges `costTokens` to the tenant's share and gives the job its priority. Rejects when Redis does. */
  async ticket(model: string, tenant: FairTenant, costTokens: number): Promise<FairTicket> {
    const priorityClass = priorityClassOf(tenant.priority);
    const base = PRIORITY_CLASSES[priorityClass];
    const cost = costTokens / tenant.weight;
    const scores = priorityClassScores(priorityClass);
    const [start, origin, clock] = (
      await this.redis.infergateFairTicket(
        this.names.fairShare(model, priorityClass),
        this.names.prioritizedJobs(this.names.queueName(model)),
        tenant.id,
        cost,
        scores.min,
        scores.max,
        REBASE_AFTER_STEPS * TOKENS_PER_STEP,
        STATE_TTL_MS,
      )
    ).map(Number) as [number, number, number];
    // Past the band's end (an unbroken backlog of millions of tokens), jobs keep arrival order until the queue empties once.
    const step = Math.min(PRIORITY_BAND_WIDTH - 1, Math.max(0, Math.floor((start - origin) / TOKENS_PER_STEP)));
    return { priority: base + step, priorityClass, tenant: tenant.id, start, lead: start - clock, cost, weight: tenant.weight };
  }

  /** A dispatcher started the job: the class's clock moves to its tag, the model's drain rate counts it. Never rejects. */
  async started(model: string, ticket: FairTicket): Promise<void> {
    await this.redis
      .infergateFairStarted(this.names.fairShare(model, ticket.priorityClass), this.names.drainTimes(model), ticket.start, DRAIN_WINDOW, STATE_TTL_MS)
      .catch((err: unknown) => this.failures.report('fair_share', err, 'class clock not moved; the next job corrects it', { model }));
  }

  /** The job is over: its tenant is charged the tokens served (`served` undefined: none) instead of the estimate. Never rejects. */
  async settled(model: string, ticket: FairTicket, served: number | undefined): Promise<void> {
    const delta = (served ?? 0) / ticket.weight - ticket.cost;
    if (delta === 0) return;
    await this.redis
      .infergateFairCorrect(this.names.fairShare(model, ticket.priorityClass), ticket.tenant, delta)
      .catch((err: unknown) => this.failures.report('fair_share', err, 'tenant share not corrected; it stays at its estimate', { model }));
  }

  position(model: string, rid: string, lane?: string): Promise<number | undefined> {
    return this.positions.position(model, rid, lane);
  }

  /** The tenants of each model's classes that are ahead of the class's clock, and by how many virtual tokens. Rejects when Redis does. */
  deficits(models: Iterable<string>): Promise<ClassDeficits[]> {
    const classes = Object.keys(PRIORITY_CLASSES) as PriorityClass[];
    return Promise.all(
      [...models].flatMap((model) =>
        classes.map(async (priorityClass) => {
          const flat = await this.redis.infergateFairDeficits(this.names.fairShare(model, priorityClass));
          const leads = new Map<string, number>();
          for (let i = 0; i < flat.length; i += 2) leads.set(flat[i]!, Number(flat[i + 1]));
          return { model, priorityClass, leads };
        }),
      ),
    );
  }

  /** Jobs of `model` the fleet starts per second, over its last 64; undefined without a recent rate. Rejects when Redis does. */
  async drainPerSecond(model: string): Promise<number | undefined> {
    const [n, newest, oldest, now] = await this.redis.infergateFairDrain(this.names.drainTimes(model));
    if (n < 2 || now - newest > DRAIN_STALE_MS) return undefined;
    return ((n - 1) * 1000) / Math.max(1, newest - oldest);
  }
}
