import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { internalFailuresMetric } from '@infergate/shared';
import { LaneMetrics } from './affinity/affinityMetrics.js';
import type { CapacityGate } from './capacityGate.js';
import type { JobOutcome } from './jobRunner.js';

/** How a pulled job left this dispatcher: the runner's outcomes, plus the jobs it never ran. */
export type JobResult = JobOutcome['kind'] | 'skipped' | 'invalid';

/** Where the dispatcher survives an error that could break a guarantee; the label of its internal-failure count. */
export type DispatcherOperation =
  | 'redis_connection'
  /** The never-run-twice record: writing it after the head, reading it before a re-run. */
  | 'job_fate_write'
  | 'job_fate_read'
  /** Moving a finished, skipped or invalid job to completed, failed or back to waiting. */
  | 'job_settle'
  | 'job_handling'
  /** Returning a job the gate had no slot for, or one an abandoned fetch took late. */
  | 'job_return'
  | 'lock_renewal'
  | 'queue_fetch'
  /** A BullMQ Worker's `error` event. */
  | 'queue_worker'
  | 'worker_start'
  | 'worker_close'
  /** The error frame for a failed or stopped job could not be published. */
  | 'reply_publish'
  | 'model_discovery'
  | 'registry_heartbeat'
  | 'deregistration'
  | 'engine_poll'
  /** Cache affinity: an index write (a hint: the next turn may miss), a lane job moved to the shared queue, a lane registered. */
  | 'affinity_index_write'
  | 'lane_move'
  | 'lane_register'
  /** An engine read (a GET outside the queue) that could not be served or was not one. */
  | 'engine_read';

/** What the dispatcher metrics read at scrape time. */
export interface DispatcherProbes {
  readonly dispatcherId: string;
  readonly gate: CapacityGate;
  draining(): boolean;
  /** Connection name → whether it is usable now. */
  redisConnections(): Readonly<Record<string, boolean>>;
  /** The engine's own cumulative prefix-cache figures, where it exports them (vLLM). */
  prefixCache?(): { readonly queries: number; readonly hits: number } | undefined;
}

/**
 * The dispatcher's Prometheus registry. Every series carries the dispatcher id
 * and engine kind, so a dashboard can show slots per engine without relying
 * on scrape-target labels. Counters move once per job; gauges are read from
 * the capacity gate when Prometheus scrapes.
 */
export class DispatcherMetrics {
  readonly registry = new Registry();
  /** Cache-affinity series: lane pulls and moves, the engine's own cache figures. */
  readonly lanes = new LaneMetrics(this.registry);

  private readonly pulls = new Counter({
    name: 'infergate_dispatcher_pulls_total',
    help: 'Jobs this dispatcher took from a model queue.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  private readonly jobs = new Counter({
    name: 'infergate_dispatcher_jobs_total',
    help: 'Jobs finished here, by outcome: served, failed, cancelled, retry (returned to the queue), skipped, invalid.',
    labelNames: ['model', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly internalFailures = new Counter({ ...internalFailuresMetric('dispatcher'), registers: [this.registry] });

  constructor(private readonly probes: DispatcherProbes) {
    this.registry.setDefaultLabels({ dispatcher: probes.dispatcherId });
    const registers = [this.registry];
    const { gate } = probes;
    const gateGauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gateGauge('infergate_engine_slots', 'Slots the engine has (its own report, or ENGINE_SLOTS).', () => gate.state.total);
    gateGauge('infergate_engine_slots_busy', 'Slots busy: this dispatcher\'s requests plus outside load.', () => gate.state.inFlight + gate.state.outside);
    gateGauge('infergate_engine_slots_free', 'Slots this dispatcher may fill now (0 while not ready or blocked).', () => gate.state.free);
    gateGauge('infergate_dispatcher_in_flight', 'Requests this dispatcher is running on its engine.', () => gate.state.inFlight);
    gateGauge('infergate_engine_outside_load', 'Requests on the engine that are not this dispatcher\'s, as of the last poll.', () => gate.state.outside);
    gateGauge('infergate_engine_ready', '1 while the engine answers its health check.', () => (gate.state.ready ? 1 : 0));
    gateGauge('infergate_engine_blocked', '1 while the dispatcher pulls nothing: engine not ready, under pressure or saturated.', () =>
      gate.state.blockedBy === undefined ? 0 : 1,
    );
    gateGauge('infergate_dispatcher_draining', '1 while the dispatcher drains before exiting.', () => (probes.draining() ? 1 : 0));
    new Gauge({
      name: 'infergate_engine_prefix_cache_tokens',
      help: 'The engine\'s own cumulative prefix-cache counters as of the last poll (vLLM prefix_cache_queries / prefix_cache_hits): prompt tokens queried and hit. Reset when the engine restarts; use rate().',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        this.reset();
        const figures = probes.prefixCache?.();
        if (figures) {
          this.set({ kind: 'queried' }, figures.queries);
          this.set({ kind: 'hit' }, figures.hits);
        }
      },
    });
    new Gauge({
      name: 'infergate_redis_connected',
      help: '1 while the Redis connection is ready.',
      labelNames: ['connection'] as const,
      registers,
      collect() {
        for (const [connection, up] of Object.entries(probes.redisConnections())) this.set({ connection }, up ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  pulled(model: string): void {
    this.pulls.inc({ model });
  }

  finished(model: string, outcome: JobResult): void {
    this.jobs.inc({ model, outcome });
  }

  /**
   * The engine answered what it is: every series is labelled with its kind
   * from now on. Known only once the engine is up, while failures (a Redis
   * that is not) are counted from the start.
   */
  engineIdentified(kind: string): void {
    this.registry.setDefaultLabels({ dispatcher: this.probes.dispatcherId, engine_kind: kind });
  }

  internalFailure(operation: DispatcherOperation): void {
    this.internalFailures.inc({ operation });
  }

  /** `GET /metrics` on the status server. */
  readonly route = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await this.registry.metrics();
    res.writeHead(200, { 'content-type': this.registry.contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}
