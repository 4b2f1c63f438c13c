import type { Job } from 'bullmq';
import type { InferenceJob, InternalFailures, Logger, RedisClient, RedisNames } from '@infergate/shared';
import type { DispatcherOperation } from '../metrics.js';
import type { ModelConsumer } from '../modelConsumer.js';
import type { LaneMetrics } from './affinityMetrics.js';
import { CacheEpoch } from './cacheEpoch.js';
import { IndexWriter } from './indexWriter.js';
import { LaneMover } from './laneMover.js';

export interface LaneSettings {
  readonly dispatcherId: string;
  readonly indexTtlSeconds: number;
  /** How often lanes of dispatchers gone from the registry are looked for. */
  readonly adoptEveryMs: number;
  readonly heartbeatTtlMs: number;
}

/**
 * This dispatcher's side of cache affinity: a lane per model that only it
 * pulls (before the shared queue, through the same capacity gate), the index
 * writes, the cache epoch, and the lanes of dispatchers that died, whose
 * jobs would otherwise wait for a worker that is gone: every survivor looks
 * for them, and moves their unheld jobs to the shared queue.
 */
export class AffinityLanes {
  readonly epoch = new CacheEpoch();
  readonly writer: IndexWriter;
  private readonly mover: LaneMover;
  private readonly consumers = new Map<string, ModelConsumer>();
  private timer: NodeJS.Timeout | undefined;
  private adopting: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
    private readonly settings: LaneSettings,
    private readonly createConsumer: (queueName: string, model: string) => ModelConsumer,
    readonly metrics: LaneMetrics,
    private readonly failures: InternalFailures<DispatcherOperation>,
    private readonly logger: Logger,
  ) {
    this.writer = new IndexWriter(redis, names, settings.dispatcherId, this.epoch, settings.indexTtlSeconds, failures);
    this.mover = new LaneMover(redis, names);
  }

  /** Opens the model's lane and puts it before the shared queue's consumer. */
  async addModel(model: string, shared: ModelConsumer): Promise<void> {
    if (this.consumers.has(model)) return;
    const lane = this.createConsumer(this.names.laneQueueName(model, this.settings.dispatcherId), model);
    this.consumers.set(model, lane);
    await this.redis.sadd(this.names.laneSet(model), this.settings.dispatcherId);
    await lane.start();
    shared.yieldTo = lane;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.adopting ??= this.adoptDeadLanes().finally(() => (this.adopting = undefined));
    }, this.settings.adoptEveryMs);
  }

  /**
   * A job this engine failed before answering: it goes to the shared queue
   * (not back to this lane, where only this failing engine would look).
   */
  async retryElsewhere(job: Job<InferenceJob>, token: string): Promise<void> {
    if (await this.mover.requeue(job)) this.metrics.moved(job.data.model, 'retry', 1);
    await job.moveToCompleted('moved', token, false);
  }

  isLane(queueName: string): boolean {
    return this.names.laneOfQueue(queueName) !== undefined;
  }

  /** Stops pulling the lanes and hands what waits in them to the shared queues. */
  async drain(): Promise<void> {
    clearInterval(this.timer);
    await this.adopting;
    await Promise.all([...this.consumers.values()].map((c) => c.stopPulling()));
    for (const model of this.consumers.keys()) {
      const counts = await this.mover.moveLane(model, this.settings.dispatcherId).catch((err: unknown) => {
        // What stays behind leaves at its ingress's steal bound, or when a survivor adopts the lane.
        this.failures.report('lane_move', err, 'could not hand the lane to the shared queue', { model });
        return undefined;
      });
      if (counts && counts.moved + counts.dropped > 0) this.logger.info({ model, ...counts }, 'lane handed to the shared queue');
      this.metrics.moved(model, 'drain', counts?.moved ?? 0);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers.values()].map((c) => c.close()));
    for (const model of this.consumers.keys()) {
      // Left in the set, the lane is forgotten by the first survivor that finds it empty.
      await this.redis.srem(this.names.laneSet(model), this.settings.dispatcherId).catch((err: unknown) => this.failures.report('lane_register', err, 'could not unregister the lane', { model }));
    }
    await this.mover.close();
  }

  private async adoptDeadLanes(): Promise<void> {
    try {
      const live = new Set(await this.redis.zrangebyscore(this.names.dispatcherIndex, Date.now() - this.settings.heartbeatTtlMs, '+inf'));
      for (const model of this.consumers.keys()) {
        // Re-asserted every round: a peer that took this dispatcher for dead
        // (a pause longer than the heartbeat TTL) has forgotten its lane.
        await this.redis.sadd(this.names.laneSet(model), this.settings.dispatcherId);
        for (const owner of await this.redis.smembers(this.names.laneSet(model))) {
          if (live.has(owner) || owner === this.settings.dispatcherId) continue;
          const counts = await this.mover.moveLane(model, owner);
          if (counts.moved + counts.dropped > 0) this.logger.warn({ model, owner, ...counts }, 'adopted the lane of a dispatcher that is gone');
          this.metrics.moved(model, 'adopted', counts.moved);
          if (await this.mover.isEmpty(model, owner)) await this.mover.forget(model, owner);
        }
      }
    } catch (err) {
      this.failures.report('lane_move', err, 'lane adoption failed; trying again next round');
    }
  }
}
