import { Queue } from 'bullmq';
import { QueueCache, type RedisClient, type RedisNames } from '@infergate/shared';

/** The model queues (and lanes) one CLI run touches, opened on first use on the CLI's connection. */
export class CliQueues {
  private readonly queues: QueueCache;

  constructor(
    redis: RedisClient,
    private readonly names: RedisNames,
  ) {
    this.queues = new QueueCache((name) => new Queue(name, { connection: redis, prefix: names.bullPrefix }));
  }

  /** A model's queue, or with `lane` that dispatcher's affinity lane of it. */
  readonly queue = (model: string, lane?: string): Queue =>
    this.queues.get(lane === undefined ? this.names.queueName(model) : this.names.laneQueueName(model, lane));

  close(): Promise<void> {
    return this.queues.close();
  }
}
