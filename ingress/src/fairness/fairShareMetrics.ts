import { Gauge, Histogram, type Registry } from 'prom-client';
import type { PriorityClass } from '@infergate/shared';
import type { ClassDeficits, FairTicket } from './fairShare.js';

const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** What the fair queue's gauges read from Redis at scrape time. */
export interface FairShareProbes {
  /** Jobs waiting in each model's shared queue, by priority class. */
  waitingByClass(models: Iterable<string>): Promise<ReadonlyArray<{ readonly model: string; readonly counts: Readonly<Record<PriorityClass, number>> }>>;
  /** Each model class's tenants ahead of its clock; none with FAIR_SHARE off. */
  deficits(models: Iterable<string>): Promise<ClassDeficits[]>;
}

/**
 * The fair queue's series. The tenant is no label unless the operator asks
 * (FAIR_SHARE_METRICS_BY_KEY): jobs are told apart by their tenant's share
 * instead, `within` (the tenant had nothing queued ahead of the class's
 * clock) or `over` (it had, so it waits for others' turns as well as its
 * own), which is what shows whether light tenants are protected from heavy
 * ones. Gauges read Redis when Prometheus scrapes; Redis away, they go
 * empty for that scrape.
 */
export class FairShareMetrics {
  private readonly wait: Histogram<'model' | 'class' | 'share' | 'key'>;

  constructor(
    registry: Registry,
    private readonly byKey: boolean,
    probes: FairShareProbes,
    models: () => Iterable<string>,
  ) {
    const registers = [registry];
    this.wait = new Histogram({
      name: 'infergate_fair_queue_wait_seconds',
      help: "Enqueue to start, by priority class and the tenant's share when it was queued (within: nothing of its own ahead; over: beyond its share).",
      labelNames: byKey ? (['model', 'class', 'share', 'key'] as const) : (['model', 'class', 'share'] as const),
      buckets: WAIT_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'infergate_queue_jobs_waiting_by_class',
      help: "Jobs waiting in each model's shared queue by priority class (lanes excluded); the same for every ingress (aggregate with max).",
      labelNames: ['model', 'class'] as const,
      registers,
      async collect() {
        this.reset();
        const all = await probes.waitingByClass(models()).catch(() => []);
        for (const { model, counts } of all) for (const [cls, n] of Object.entries(counts)) this.set({ model, class: cls }, n);
      },
    });
    // Both gauges of one scrape share one reading.
    let reading: Promise<ClassDeficits[]> | undefined;
    const read = () => (reading ??= probes.deficits(models()).catch(() => []).finally(() => setTimeout(() => (reading = undefined), 1_000).unref()));
    new Gauge({
      name: 'infergate_fair_share_deficit_tokens',
      help: "Virtual tokens (tokens / weight) the tenant furthest ahead of its class's clock has queued beyond its share (by key: each tenant's); 0 when every tenant is within its share.",
      labelNames: byKey ? (['model', 'class', 'key'] as const) : (['model', 'class'] as const),
      registers,
      async collect() {
        this.reset();
        for (const { model, priorityClass, leads } of await read()) {
          if (byKey) for (const [key, lead] of leads) this.set({ model, class: priorityClass, key }, lead);
          else this.set({ model, class: priorityClass }, Math.max(0, ...leads.values()));
        }
      },
    });
    new Gauge({
      name: 'infergate_fair_share_tenants_over',
      help: "Tenants (keys, JWT tenants) of each class with work queued beyond their share: the ones the fair queue holds back.",
      labelNames: ['model', 'class'] as const,
      registers,
      async collect() {
        this.reset();
        for (const { model, priorityClass, leads } of await read()) this.set({ model, class: priorityClass }, leads.size);
      },
    });
  }

  started(model: string, ticket: FairTicket, waitedMs: number): void {
    const labels = { model, class: ticket.priorityClass, share: ticket.lead > 0 ? 'over' : 'within' };
    this.wait.observe(this.byKey ? { ...labels, key: ticket.tenant } : labels, waitedMs / 1000);
  }
}
