import type { Queue } from 'bullmq';

/**
 * BullMQ queues by name, each created on first use and kept for the
 * process's life (a queue object is cheap; re-creating one per call is not).
 * The caller passes the constructor, so `@infergate/shared` never loads
 * BullMQ for processes that touch no queue (the engine simulator).
 */
export class QueueCache {
  private readonly queues = new Map<string, Queue>();

  constructor(private readonly create: (name: string) => Queue) {}

  get(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = this.create(name);
      // Errors reach the caller through the failed call; the emitter's copy would crash the process unheard.
      q.on('error', () => undefined);
      this.queues.set(name, q);
    }
    return q;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
