import type { Job, Queue } from 'bullmq';
import { gatewayError } from '../errors.js';
import type { RedisClient } from '../redis/connection.js';

/** The job states an operator can list, in the order a job passes through them. */
export const QUEUE_JOB_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;
export type QueueJobState = (typeof QUEUE_JOB_STATES)[number];

/** States of a job no dispatcher holds: removing it from the queue is all a cancel needs. */
export const QUEUED_STATES: ReadonlySet<QueueJobState> = new Set(['waiting', 'prioritized', 'delayed']);

/** States of a job that has not finished: queued, or held by a dispatcher. */
export const LIVE_JOB_STATES = ['waiting', 'prioritized', 'delayed', 'active'] as const satisfies readonly QueueJobState[];

export function isQueueJobState(value: string): value is QueueJobState {
  return (QUEUE_JOB_STATES as readonly string[]).includes(value);
}

interface Occupancy {
  readonly counts: Readonly<Record<QueueJobState, number>>;
  /** How long the oldest waiting job has waited, in ms; null when nothing waits. */
  readonly oldestAgeMs: number | null;
}

/** One dispatcher's affinity lane of a model: jobs placed for its engine's cache (docs/design.md). */
export interface LaneSummary extends Occupancy {
  readonly dispatcher: string;
  readonly queue: string;
}

export interface QueueSummary extends Occupancy {
  readonly model: string;
  readonly queue: string;
  readonly paused: boolean;
  /** The model's lanes; their jobs are not in `counts`. */
  readonly lanes: readonly LaneSummary[];
}

/**
 * What an operator may see of a job: routing metadata only. The prompt, the
 * body and the client's headers stay in Redis.
 */
export interface JobSummary {
  readonly id: string;
  readonly model: string;
  readonly state: QueueJobState;
  readonly enqueuedAt: number;
  readonly ageMs: number;
  readonly priority: number;
  readonly attempts: number;
  /** The dispatcher holding (or last holding) the job: BullMQ's `processedBy`, the worker name. */
  readonly dispatcher: string | null;
  /** The dispatcher whose affinity lane holds the job; null in the shared queue. */
  readonly lane: string | null;
  /** The client key the request came with, when the ingress stamped one on the job. */
  readonly keyId: string | null;
  /** Path without its query string. */
  readonly path: string | null;
  readonly stream: boolean | null;
  /**
   * For a waiting job, how many jobs its queue (shared or lane) starts before
   * it, plus one (1: next); null in other states. The prioritized set is
   * ordered by priority, so with fair share on this is the fair order.
   */
  readonly position: number | null;
}

export interface LocatedJob {
  readonly model: string;
  readonly state: QueueJobState;
  readonly queue: Queue;
  readonly lane: string | null;
}

/**
 * BullMQ scores a prioritized job `priority × 2^32 + arrival counter`
 * (commands/includes/getPriorityScore.lua), so each priority is a band of
 * scores, FIFO within the band.
 */
const PRIORITY_BAND = 0x100000000;

/** Default and largest page of a job listing: listing reads each job's stored request. */
export const DEFAULT_JOB_LIMIT = 50;
export const MAX_JOB_LIMIT = 500;

/**
 * Read-mostly view of the model queues, shared by the ingress admin API, its
 * metrics and the `infergate` CLI so all three report the same numbers.
 * Each call costs a few Redis round trips per model and nothing per request.
 *
 * The caller owns the queue objects (the ingress reuses its own): BullMQ is
 * imported here for its types only, so `@infergate/shared` does not load it
 * for processes that never touch a queue (the engine simulator).
 */
export class QueueInspector {
  /**
   * @param redis - a connection for the reads BullMQ has no call for.
   * @param queue - the queue of a model, or with `lane` that dispatcher's affinity lane of it.
   * @param laneSet - the key listing a model's lanes (RedisNames.laneSet); without it no lane is shown.
   */
  constructor(
    private readonly redis: RedisClient,
    readonly queue: (model: string, lane?: string) => Queue,
    private readonly laneSet?: (model: string) => string,
  ) {}

  async summary(model: string, now = Date.now()): Promise<QueueSummary> {
    const q = this.queue(model);
    const [occupancy, paused, lanes] = await Promise.all([this.occupancy(q, now), q.isPaused(), this.laneSummaries(model, now)]);
    return { model, queue: q.name, paused, ...occupancy, lanes };
  }

  /** Dispatchers with a lane for the model, sorted. */
  async lanes(model: string): Promise<string[]> {
    return this.laneSet ? (await this.redis.smembers(this.laneSet(model))).sort() : [];
  }

  private async laneSummaries(model: string, now: number): Promise<LaneSummary[]> {
    return Promise.all(
      (await this.lanes(model)).map(async (dispatcher) => {
        const q = this.queue(model, dispatcher);
        return { dispatcher, queue: q.name, ...(await this.occupancy(q, now)) };
      }),
    );
  }

  private async occupancy(q: Queue, now: number): Promise<Occupancy> {
    const [counts, fifoHead, bandHeads] = await Promise.all([
      q.getJobCounts(...QUEUE_JOB_STATES),
      q.getRanges(['wait'], 0, 0, true),
      this.priorityBandHeads(q),
    ]);
    const heads = [...fifoHead, ...bandHeads];
    const stamps = await Promise.all(heads.map((id) => this.redis.hget(q.toKey(id), 'timestamp')));
    const times = stamps.filter((s): s is string => s !== null).map(Number);
    return {
      counts: Object.fromEntries(QUEUE_JOB_STATES.map((s) => [s, counts[s] ?? 0])) as Record<QueueJobState, number>,
      oldestAgeMs: times.length > 0 ? Math.max(0, now - Math.min(...times)) : null,
    };
  }

  /**
   * The first job of every priority present: the oldest waiting job is one of
   * them, since a band is FIFO. One round trip per priority in use (a few
   * classes), however long the queue.
   */
  private async priorityBandHeads(q: Queue): Promise<string[]> {
    const key = q.toKey('prioritized');
    const heads: string[] = [];
    for (let from = 0; ; ) {
      const [id, score] = await this.redis.zrangebyscore(key, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1);
      if (id === undefined) return heads;
      heads.push(id);
      from = (Math.floor(Number(score) / PRIORITY_BAND) + 1) * PRIORITY_BAND;
    }
  }

  summaries(models: Iterable<string>): Promise<QueueSummary[]> {
    const now = Date.now();
    return Promise.all([...models].sort().map((m) => this.summary(m, now)));
  }

  /** Jobs of one model in the given states, oldest first, at most `limit` per state and queue (shared, then each lane). */
  async jobs(model: string, states: readonly QueueJobState[], limit = DEFAULT_JOB_LIMIT): Promise<JobSummary[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_JOB_LIMIT) {
      throw gatewayError('invalid_parameter', `limit must be an integer from 1 to ${MAX_JOB_LIMIT}.`, { param: 'limit' });
    }
    const now = Date.now();
    const sources = [null, ...(await this.lanes(model))];
    const perQueue = await Promise.all(
      sources.flatMap((lane) => {
        const q = this.queue(model, lane ?? undefined);
        // Jobs without a priority go before every prioritized one.
        const ahead = states.includes('prioritized') ? q.getWaitingCount() : Promise.resolve(0);
        return states.map(async (state) => {
          const jobs = await q.getJobs([state], 0, limit - 1, true);
          const first = state === 'waiting' ? 1 : state === 'prioritized' ? (await ahead) + 1 : undefined;
          return jobs.map((job, i) => describeJob(job, model, state, now, lane, first === undefined ? null : first + i));
        });
      }),
    );
    return perQueue.flat();
  }

  /** Finds which queue (shared or lane) of `models` holds job `id`, and in what state; undefined when none does. */
  async locate(id: string, models: Iterable<string>): Promise<LocatedJob | undefined> {
    const found = await Promise.all(
      [...models].map(async (model) => {
        const sources = [null, ...(await this.lanes(model))];
        const states = await Promise.all(
          sources.map(async (lane) => {
            const queue = this.queue(model, lane ?? undefined);
            const state = await queue.getJobState(id);
            return isQueueJobState(state) ? { model, state, queue, lane } : undefined;
          }),
        );
        return states.find((f) => f !== undefined);
      }),
    );
    return found.find((f) => f !== undefined);
  }

  /** Pauses or resumes a model's queue and its lanes: a paused model starts nothing, wherever its jobs wait. */
  async setPaused(model: string, paused: boolean): Promise<QueueSummary> {
    const queues = [this.queue(model), ...(await this.lanes(model)).map((lane) => this.queue(model, lane))];
    await Promise.all(queues.map((q) => (paused ? q.pause() : q.resume())));
    return this.summary(model);
  }
}

function describeJob(job: Job, model: string, state: QueueJobState, now: number, lane: string | null, position: number | null): JobSummary {
  const data = (job.data ?? {}) as { keyId?: unknown; path?: unknown; stream?: unknown };
  return {
    id: job.id ?? '',
    model,
    state,
    enqueuedAt: job.timestamp,
    ageMs: Math.max(0, now - job.timestamp),
    priority: job.priority ?? 0,
    attempts: job.attemptsStarted ?? 0,
    dispatcher: job.processedBy ?? null,
    lane,
    keyId: typeof data.keyId === 'string' ? data.keyId : null,
    path: typeof data.path === 'string' ? data.path.split('?')[0]! : null,
    stream: typeof data.stream === 'boolean' ? data.stream : null,
    position,
  };
}
