import type { Queue } from 'bullmq';

/**
 * BullMQ queues by name, each created on first use and kept for the
 * process's life (a queue object is cheap; re-creating one per call is not).
 * The caller passes the constructor, so `@infergate/shared` never loads
 * BullMQ for processes that touch no queue (the engine simulator).
 */
export class QueueCache {
  private readonly queues = new Map<string, Queue>();

  /**
   * @param onError - a queue's `error` events (they repeat its connection's);
   *   by default dropped, since the failed call reports the failure itself.
   */
  constructor(
    private readonly create: (name: string) => Queue,
    private readonly onError: (err: Error, name: string) => void = () => undefined,
  ) {}

  get(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = this.create(name);
      // A listener is needed in any case: an unheard `error` event would crash the process.
      q.on('error', (err) => this.onError(err, name));
      this.queues.set(name, q);
    }
    return q;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
