import type { Queue } from 'bullmq';
import { gatewayError, inferenceJobOptions, ModelQueues, PRIORITY_CLASSES, type InferenceJob, type RedisClient, type RedisNames } from '@infergate/shared';
import type { JobSubmitter } from './context.js';
import type { IngressFailures } from './metrics.js';

/**
 * One BullMQ queue per model (and per affinity lane), created on first use
 * and sharing the ingress's command connection.
 */
export class JobQueues implements JobSubmitter {
  private readonly queues: ModelQueues;

  constructor(
    connection: RedisClient,
    private readonly names: RedisNames,
    failures: IngressFailures,
  ) {
    // The queue repeats its connection's errors, which the connection's own watch logs once per outage.
    this.queues = new ModelQueues(connection, names, (err, model) => failures.report('queue', err, 'queue error', { model }));
  }

  queue(model: string): Queue {
    return this.queues.queue(model);
  }

  /** One dispatcher's affinity lane for a model (docs/design.md, "Cache affinity"). */
  lane(model: string, dispatcherId: string): Queue {
    return this.queues.queue(model, dispatcherId);
  }

  /** A model's queue, or with `lane` that dispatcher's lane of it (the operator's view). */
  readonly forInspection = (model: string, lane?: string): Queue => this.queues.queue(model, lane);

  /**
   * Jobs of a model that no dispatcher has started yet (BullMQ keeps
   * prioritised ones apart), in its shared queue and in the given dispatchers' lanes.
   */
  async depth(model: string, lanes: readonly string[] = []): Promise<number> {
    try {
      const queues = [this.queue(model), ...lanes.map((id) => this.lane(model, id))];
      const counts = await Promise.all(queues.map((q) => q.getJobCountByTypes('waiting', 'prioritized')));
      return counts.reduce((a, b) => a + b, 0);
    } catch (err) {
      // Its shard may be failing over: a retryable 503, not an internal error.
      throw gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err });
    }
  }

  /** `priority`: 1 is the most urgent; BullMQ needs one on every job once any job has one. */
  async enqueue(job: InferenceJob, priority: number = PRIORITY_CLASSES.normal, into: Queue = this.queue(job.model)): Promise<void> {
    await into.add('request', job, inferenceJobOptions(job.rid, priority));
  }

  /**
   * Removes a job that no dispatcher has started. Resolves false when the job
   * is already running (or gone), in which case only a cancel message helps;
   * rejects with a retryable 503 when Redis cannot say which.
   */
  async removeWaiting(model: string, rid: string, from: Queue = this.queue(model)): Promise<boolean> {
    try {
      return (await from.remove(rid)) === 1;
    } catch (err) {
      throw gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err });
    }
  }

  close(): Promise<void> {
    return this.queues.close();
  }
}
