import { Gauge, Histogram, type Registry } from 'prom-client';
import type { PriorityClass } from '@infergate/shared';
import type { FairTicket } from './fairShare.js';

const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const LEAD_BUCKETS = [0, 64, 256, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576];

/** Jobs waiting in one model's shared queue, by priority class. */
export type WaitingByClass = (models: Iterable<string>) => Promise<ReadonlyArray<{ readonly model: string; readonly counts: Readonly<Record<PriorityClass, number>> }>>;

/**
 * The fair queue's series. The tenant is no label unless the operator asks
 * (FAIR_SHARE_METRICS_BY_KEY): jobs are told apart by their tenant's share
 * instead, `within` (the tenant had nothing queued ahead of the class's
 * clock) or `over` (it had, so it waits for others' turns as well as its
 * own), which is what shows whether light tenants are protected from heavy ones.
 */
export class FairShareMetrics {
  private readonly wait: Histogram<'model' | 'class' | 'share' | 'key'>;
  private readonly lead: Histogram<'model' | 'class' | 'key'>;

  constructor(
    registry: Registry,
    private readonly byKey: boolean,
    waiting: WaitingByClass,
    models: () => Iterable<string>,
  ) {
    const registers = [registry];
    this.wait = new Histogram({
      name: 'infergate_fair_queue_wait_seconds',
      help: 'Enqueue to start, by priority class and the tenant\'s share when it was queued (within: nothing of its own ahead; over: beyond its share).',
      labelNames: byKey ? (['model', 'class', 'share', 'key'] as const) : (['model', 'class', 'share'] as const),
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.lead = new Histogram({
      name: 'infergate_fair_share_deficit_tokens',
      help: 'Virtual tokens (tokens / weight) a job\'s tenant was ahead of its class\'s clock when the job was queued: its own work queued before it.',
      labelNames: byKey ? (['model', 'class', 'key'] as const) : (['model', 'class'] as const),
      buckets: LEAD_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'infergate_queue_jobs_waiting_by_class',
      help: 'Jobs waiting in each model\'s shared queue by priority class (lanes excluded); the same for every ingress (aggregate with max).',
      labelNames: ['model', 'class'] as const,
      registers,
      async collect() {
        this.reset();
        // Redis away: the gauge goes empty for this scrape.
        const all = await waiting(models()).catch(() => []);
        for (const { model, counts } of all) for (const [cls, n] of Object.entries(counts)) this.set({ model, class: cls }, n);
      },
    });
  }

  queued(model: string, ticket: FairTicket): void {
    this.lead.observe(this.labels({ model, class: ticket.priorityClass }, ticket), ticket.lead);
  }

  started(model: string, ticket: FairTicket, waitedMs: number): void {
    this.wait.observe(this.labels({ model, class: ticket.priorityClass, share: ticket.lead > 0 ? 'over' : 'within' }, ticket), waitedMs / 1000);
  }

  private labels<T extends Record<string, string>>(labels: T, ticket: FairTicket): T | (T & { key: string }) {
    return this.byKey ? { ...labels, key: ticket.tenant } : labels;
  }
}
