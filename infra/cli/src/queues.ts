import { Queue } from 'bullmq';
import type { RedisClient, RedisNames } from '@infergate/shared';

/** The model queues (and lanes) one CLI run touches, opened on first use on the CLI's connection. */
export class CliQueues {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
  ) {}

  /** A model's queue, or with `lane` that dispatcher's affinity lane of it. */
  readonly queue = (model: string, lane?: string): Queue => {
    const name = lane === undefined ? this.names.queueName(model) : this.names.laneQueueName(model, lane);
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: this.names.bullPrefix });
      q.on('error', () => undefined);
      this.queues.set(name, q);
    }
    return q;
  };

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
