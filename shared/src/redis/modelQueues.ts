import { Queue } from 'bullmq';
import type { RedisClient } from './connection.js';
import type { RedisNames } from './names.js';

/**
 * One BullMQ queue per model, and per affinity lane of a model (`lane`: the
 * dispatcher id), opened on first use on a shared connection and closed
 * together. A Queue emits 'error' for connection trouble (and Node
 * throws an 'error' event nobody listens to), so every queue gets `onError`:
 * each user says what such an error means to it.
 */
export class ModelQueues {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: RedisClient,
    private readonly names: RedisNames,
    private readonly onError: (err: Error, model: string) => void,
  ) {}

  readonly queue = (model: string, lane?: string): Queue => {
    const name = lane === undefined ? this.names.queueName(model) : this.names.laneQueueName(model, lane);
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.names.bullPrefix });
      q.on('error', (err) => this.onError(err, model));
      this.queues.set(name, q);
    }
    return q;
  };

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
