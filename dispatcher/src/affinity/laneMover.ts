import { Queue, type Job } from 'bullmq';
import { inferenceJobOptions, isInferenceJob, QueueCache, type InferenceJob, type RedisClient, type RedisNames } from '@infergate/shared';

/** The lane states a job no live worker holds can be in. */
const MOVABLE_STATES = ['waiting', 'prioritized', 'delayed', 'active'] as const;
const PAGE = 200;

export interface MoveCounts {
  readonly moved: number;
  /** Jobs whose client already saw bytes or gave up (started flag): nobody waits for them. */
  readonly dropped: number;
}

/**
 * Moves jobs out of a lane into the model's shared queue, where any
 * dispatcher may take them: a dead dispatcher's lane (adoption), a draining
 * one's, or a job its engine failed before answering. A job is moved only if
 * BullMQ lets it be removed, i.e. no live worker holds its lock, so a job can
 * never run in two places; the removal is atomic, so several movers (the
 * ingress at the steal bound, every surviving dispatcher) never duplicate it.
 */
export class LaneMover {
  private readonly queues: QueueCache;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
  ) {
    this.queues = new QueueCache((name) => new Queue(name, { connection: redis, prefix: names.bullPrefix }));
  }

  private queue(name: string): Queue {
    return this.queues.get(name);
  }

  /** Every movable job of `dispatcher`'s lane for `model`. */
  async moveLane(model: string, dispatcher: string): Promise<MoveCounts> {
    const lane = this.queue(this.names.laneQueueName(model, dispatcher));
    let moved = 0;
    let dropped = 0;
    const jobs = (await lane.getJobs([...MOVABLE_STATES], 0, PAGE - 1, true)) as Job<InferenceJob>[];
    for (const job of jobs) {
      if (job.id === undefined || (await lane.remove(job.id)) !== 1) continue;
      if (await this.requeue(job)) moved++;
      else dropped++;
    }
    return { moved, dropped };
  }

  /** Re-adds a job taken out of its lane to the shared queue; false when nobody waits for it any more. */
  async requeue(job: Job<InferenceJob>): Promise<boolean> {
    const data: unknown = job.data;
    if (!isInferenceJob(data)) return false;
    // Its client may have cancelled while the job was between the queues, or already seen bytes (its fate is set).
    if ((await this.redis.exists(this.names.jobFate(data.rid))) === 1) return false;
    const moved: InferenceJob = { ...data, affinity: { ...data.affinity, blocks: data.affinity?.blocks ?? [], moved: true } };
    await this.queue(this.names.queueName(data.model)).add('request', moved, inferenceJobOptions(data.rid, job.priority));
    return true;
  }

  /** Whether a lane holds nothing at all (so its bookkeeping can go). */
  async isEmpty(model: string, dispatcher: string): Promise<boolean> {
    const counts = await this.queue(this.names.laneQueueName(model, dispatcher)).getJobCounts(...MOVABLE_STATES);
    return Object.values(counts).every((n) => n === 0);
  }

  /**
   * Stops looking at an empty lane. Its few BullMQ keys stay: removing them
   * could race with that dispatcher coming back under the same id.
   */
  async forget(model: string, dispatcher: string): Promise<void> {
    await this.redis.srem(this.names.laneSet(model), dispatcher);
  }

  close(): Promise<void> {
    return this.queues.close();
  }
}
