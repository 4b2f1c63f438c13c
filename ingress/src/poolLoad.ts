import type { DispatcherState, QueueSummary } from '@infergate/shared';

/** One model's pool as the autoscaling gauges see it. */
export interface PoolLoad {
  readonly model: string;
  /** Jobs no dispatcher has started, in the shared queue and every lane. */
  readonly waiting: number;
  readonly busy: number;
  readonly free: number;
  readonly total: number;
  /**
   * (busy + waiting) / slots: 1 is a pool exactly full, above 1 requests
   * queue, 0 an idle pool. With no slots at all (scaled to zero, or every
   * engine draining), the waiting jobs themselves, so it is 0 only when
   * nothing waits. Busy slots count work from outside infergate too: it
   * takes the engine as surely as a queued request would.
   */
  readonly saturation: number;
}

const waitingIn = (counts: QueueSummary['counts']) => counts.waiting + counts.prioritized;

/**
 * Waiting work against engine slots per model, from one queue snapshot and
 * the registry. Slots of an engine that serves several models count for
 * each of them: any one model's requests may take them all.
 */
export function poolLoad(summaries: readonly QueueSummary[], dispatchers: readonly DispatcherState[]): PoolLoad[] {
  return summaries.map((q) => {
    const waiting = waitingIn(q.counts) + q.lanes.reduce((n, l) => n + waitingIn(l.counts), 0);
    let busy = 0;
    let free = 0;
    let total = 0;
    for (const d of dispatchers) {
      if (d.draining || !d.models.includes(q.model)) continue;
      busy += d.slots.busy;
      free += d.slots.free;
      total += d.slots.total;
    }
    return { model: q.model, waiting, busy, free, total, saturation: total === 0 ? waiting : (busy + waiting) / total };
  });
}
