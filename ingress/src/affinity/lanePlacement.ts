import type { Queue } from 'bullmq';
import type { InferenceJob } from '@infergate/shared';
import type { JobQueues } from '../jobQueues.js';
import type { AffinityMetrics } from './affinityMetrics.js';

export interface PlacementHooks {
  /** The job could not be put back in the shared queue after leaving its lane: the client must hear of it. */
  lost(err: unknown): void;
}

/**
 * Where one queued request is, lane or shared queue, and the steal at the
 * bound: a job still waiting in its lane after its `waitMs` is moved to the
 * shared queue (removal succeeds only while no dispatcher holds it), where
 * any engine may take it. A cancel or the queue deadline waits for a move in
 * progress, so it never misses the job between the two queues.
 */
export class Placement {
  private moving: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private inLane: boolean;
  private closed = false;
  private readonly shared: Queue;
  private readonly lane: Queue | undefined;
  private readonly waitMs: number;
  private readonly enqueuedAt = Date.now();

  constructor(
    private readonly job: InferenceJob,
    private readonly priority: number | undefined,
    lane: { readonly queue: Queue; readonly waitMs: number } | undefined,
    private readonly queues: JobQueues,
    private readonly metrics: AffinityMetrics,
    private readonly hooks: PlacementHooks,
  ) {
    this.lane = lane?.queue;
    this.waitMs = lane?.waitMs ?? 0;
    this.inLane = lane !== undefined;
    this.shared = queues.queue(job.model);
  }

  async enqueue(): Promise<void> {
    if (!this.lane) return this.queues.enqueue(this.job, this.priority);
    await this.queues.enqueue(this.job, this.priority, this.lane);
    this.timer = setTimeout(() => this.steal(), this.waitMs);
  }

  /** Removes the job wherever it waits; false when a dispatcher has it. */
  async dequeue(): Promise<boolean> {
    clearTimeout(this.timer);
    await this.moving;
    const { model, rid } = this.job;
    if (this.lane && this.inLane && (await this.queues.removeWaiting(model, rid, this.lane))) return true;
    // Moved by this ingress, or by a dispatcher adopting a dead peer's lane.
    return this.queues.removeWaiting(model, rid, this.shared);
  }

  /** A dispatcher started the job (its first frame arrived). */
  started(): void {
    clearTimeout(this.timer);
    if (this.lane && this.inLane) this.metrics.leftLane(this.job.model, 'served', (Date.now() - this.enqueuedAt) / 1000);
  }

  /** The request is over, however it ended (an operator's cancel, a deadline): no steal may follow. */
  close(): void {
    clearTimeout(this.timer);
    this.closed = true;
  }

  private steal(): void {
    if (this.closed) return;
    const lane = this.lane!;
    this.moving = (async () => {
      if (!(await this.queues.removeWaiting(this.job.model, this.job.rid, lane))) {
        // Held by its dispatcher: usually starting (the first frame clears
        // this timer), but a job it had to put back waits again and must
        // still leave at a bound.
        this.timer = setTimeout(() => this.steal(), this.waitMs);
        return;
      }
      this.inLane = false;
      this.metrics.leftLane(this.job.model, 'stolen', (Date.now() - this.enqueuedAt) / 1000);
      const moved: InferenceJob = { ...this.job, affinity: { ...this.job.affinity!, moved: true } };
      try {
        await this.queues.enqueue(moved, this.priority);
      } catch (err) {
        this.hooks.lost(err);
      }
    })();
  }
}
