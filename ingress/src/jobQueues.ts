import { Queue } from 'bullmq';
import { gatewayError, PRIORITY_CLASSES, type InferenceJob, type RedisClient, type RedisNames } from '@infergate/shared';
import type { JobSubmitter } from './context.js';
import type { InternalFailures } from './internalFailures.js';

/**
 * One BullMQ queue per model, created on first use and sharing the ingress's
 * command connection. Jobs are removed when they finish: prompts are user
 * data and the response travels over the reply channel, not the job.
 */
export class JobQueues implements JobSubmitter {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: RedisClient,
    private readonly names: RedisNames,
    private readonly failures: InternalFailures,
  ) {}

  queue(model: string): Queue {
    let q = this.queues.get(model);
    if (!q) {
      q = new Queue(this.names.queueName(model), { connection: this.connection, prefix: this.names.bullPrefix });
      // The queue repeats its connection's errors, which the connection's own watch logs once per outage.
      q.on('error', (err) => this.failures.report('queue', err, { model }));
      this.queues.set(model, q);
    }
    return q;
  }

  /** Jobs of a model that no dispatcher has started yet (BullMQ keeps prioritised ones apart). */
  async depth(model: string): Promise<number> {
    try {
      return await this.queue(model).getJobCountByTypes('waiting', 'prioritized');
    } catch (err) {
      // Its shard may be failing over: a retryable 503, not an internal error.
      throw gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err });
    }
  }

  /** `priority`: 1 is the most urgent; BullMQ needs one on every job once any job has one. */
  async enqueue(job: InferenceJob, priority: number = PRIORITY_CLASSES.normal): Promise<void> {
    await this.queue(job.model).add('request', job, {
      jobId: job.rid,
      removeOnComplete: true,
      removeOnFail: true,
      attempts: 1,
      priority,
    });
  }

  /**
   * Removes a job that no dispatcher has started. Resolves false when the job
   * is already running (or gone), in which case only a cancel message helps;
   * rejects with a retryable 503 when Redis cannot say which.
   */
  async removeWaiting(model: string, rid: string): Promise<boolean> {
    try {
      return (await this.queue(model).remove(rid)) === 1;
    } catch (err) {
      throw gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err });
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
