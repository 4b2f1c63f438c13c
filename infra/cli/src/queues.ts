import { Queue } from 'bullmq';
import type { RedisClient, RedisNames } from '@infergate/shared';

/** The model queues one CLI run touches, opened on first use on the CLI's connection. */
export class CliQueues {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
  ) {}

  readonly queue = (model: string): Queue => {
    let q = this.queues.get(model);
    if (!q) {
      q = new Queue(this.names.queueName(model), { connection: this.redis, prefix: this.names.bullPrefix });
      // The queues share the CLI's connection, whose listener keeps its last error for the message; the
      // command that failed on it reports the failure. Without a listener an error event would crash the CLI.
      q.on('error', () => undefined);
      this.queues.set(model, q);
    }
    return q;
  };

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
