import type { FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LIVE_JOB_STATES, type DispatcherState, type InternalFailures, type QueueInspector, type QueueSummary } from '@infergate/shared';
import { poolLoad } from './poolLoad.js';
import { TokenMetrics } from './usage/tokenMetrics.js';
import { AffinityMetrics } from './affinity/affinityMetrics.js';
import { FairShareMetrics, type FairShareProbes } from './fairness/fairShareMetrics.js';
import { ChunkGapHistogram } from './metricsChunkGaps.js';
import type { RelayOutcome } from './requestRelay.js';

/** What `infergate_ingress_internal_failures_total` counts, by `operation` (docs/metrics.md). */
export type IngressOperation =
  | 'redis_connection'
  /** A BullMQ queue's error event. */
  | 'queue'
  | 'cancel_publish'
  | 'abandoned_flag'
  | 'dequeue'
  | 'lease_renew'
  | 'lease_release'
  | 'registry_refresh'
  | 'usage_record'
  | 'usage_index'
  | 'engine_read_send'
  | 'fair_share'
  | 'queue_position'
  | 'affinity_heads_load';

export type IngressFailures = InternalFailures<IngressOperation>;

/** What the ingress metrics read at scrape time; nothing here is touched per request. */
export interface IngressProbes {
  /** Requests this ingress holds open, queued or streaming. */
  openRequests(): number;
  models(): Iterable<string>;
  /** Dispatchers heard from within the heartbeat TTL, as this ingress last read the registry. */
  dispatchers(): readonly DispatcherState[];
  /** Connection name → whether it is usable now. */
  redisConnections(): Readonly<Record<string, boolean>>;
  readonly inspector: Pick<QueueInspector, 'summaries'>;
  /** Heads in this ingress's copy of each model's affinity heads set. */
  knownHeads(): ReadonlyMap<string, number>;
  /** Absent: the fair queue's gauges report nothing. */
  readonly fairShare?: FairShareProbes;
}

const NO_FAIR_SHARE: FairShareProbes = { waitingByClass: async () => [], deficits: async () => [] };

/** Queue gauges read one snapshot per scrape; scrapes this close together share it. */
const QUEUE_SNAPSHOT_MS = 1_000;

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The ingress's Prometheus registry. Request metrics are recorded once per
 * request when it settles; queue depth, open requests and connection state
 * are read when Prometheus scrapes. Model labels only ever carry models the
 * fleet serves, never a name a client made up.
 */
export class IngressMetrics {
  readonly registry = new Registry();
  /** Cache-affinity series, recorded by the lane router. */
  readonly affinity = new AffinityMetrics(this.registry);
  private readonly relayed = new WeakSet<FastifyRequest>();
  private queueSnapshot: { readonly at: number; readonly summaries: Promise<QueueSummary[]> } | undefined;

  private readonly requests = new Counter({
    name: 'infergate_requests_total',
    help: 'HTTP requests answered, by route template, status and model ("" before a model was resolved).',
    labelNames: ['route', 'status', 'model'] as const,
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'infergate_request_errors_total',
    help: 'Relayed requests that ended with a gateway error, by error code.',
    labelNames: ['model', 'code'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'infergate_request_duration_seconds',
    help: 'Enqueue to the end of the response (or its error), relayed requests.',
    labelNames: ['model', 'stream'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: 'infergate_queue_wait_seconds',
    help: 'Enqueue to the moment a dispatcher started the job (its first frame).',
    labelNames: ['model'] as const,
    buckets: [0.001, 0.0025, ...LATENCY_BUCKETS],
    registers: [this.registry],
  });
  private readonly ttft = new Histogram({
    name: 'infergate_time_to_first_token_seconds',
    help: 'Enqueue to the first body bytes written to the client: the first token of a stream.',
    labelNames: ['model', 'stream'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly chunkGaps = new ChunkGapHistogram(
    'infergate_inter_chunk_gap_seconds',
    'Time between consecutive body chunks written to a client.',
  );
  private readonly bytes = new Counter({
    name: 'infergate_relayed_bytes_total',
    help: 'Response body bytes relayed to clients.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  private readonly chunks = new Counter({
    name: 'infergate_relayed_chunks_total',
    help: 'Response body chunks (data frames) relayed to clients.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  private readonly internalFailures = new Counter({
    name: 'infergate_ingress_internal_failures_total',
    help: 'Internal operations that failed (a Redis command, a BullMQ queue), by operation.',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  /** Tokens by model and kind, counted by the usage accounting. */
  readonly tokens: TokenMetrics;
  /** The fair queue's waits, deficits and class depths. */
  readonly fairShare: FairShareMetrics;

  constructor(
    private readonly probes: IngressProbes,
    options: { readonly tokensByKey?: boolean; readonly fairShareByKey?: boolean } = {},
  ) {
    this.tokens = new TokenMetrics(this.registry, options.tokensByKey ?? false);
    this.fairShare = new FairShareMetrics(this.registry, options.fairShareByKey ?? false, probes.fairShare ?? NO_FAIR_SHARE, () => probes.models());
    this.registry.registerMetric(this.chunkGaps.asMetric());
    const registers = [this.registry];
    new Gauge({
      name: 'infergate_open_requests',
      help: 'Requests this ingress holds open, queued or streaming.',
      registers,
      collect() {
        this.set(probes.openRequests());
      },
    });
    new Gauge({
      name: 'infergate_dispatchers_live',
      help: 'Dispatchers in the registry as this ingress last read it.',
      registers,
      collect() {
        this.set(probes.dispatchers().length);
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
    new Gauge({
      name: 'infergate_affinity_known_heads',
      help: 'Prefix chains and sessions this ingress knows the affinity index may hold (its copy of the heads set); a request whose heads are not among them skips the index lookup.',
      labelNames: ['model'] as const,
      registers,
      collect() {
        this.reset();
        for (const [model, heads] of probes.knownHeads()) this.set({ model }, heads);
      },
    });
    const queues = () => this.queueSummaries();
    new Gauge({
      name: 'infergate_queue_jobs',
      help: 'Jobs in each model queue by state; the same for every ingress (aggregate with max).',
      labelNames: ['model', 'state'] as const,
      registers,
      async collect() {
        this.reset();
        for (const q of await queues()) for (const state of LIVE_JOB_STATES) this.set({ model: q.model, state }, q.counts[state]);
      },
    });
    new Gauge({
      name: 'infergate_lane_jobs',
      help: 'Jobs in each dispatcher\'s affinity lane of a model, by state (not in infergate_queue_jobs); aggregate with max.',
      labelNames: ['model', 'lane', 'state'] as const,
      registers,
      async collect() {
        this.reset();
        for (const q of await queues()) {
          for (const l of q.lanes) for (const state of LIVE_JOB_STATES) this.set({ model: q.model, lane: l.dispatcher, state }, l.counts[state]);
        }
      },
    });
    new Gauge({
      name: 'infergate_queue_oldest_job_age_seconds',
      help: 'How long the job next in line has waited; 0 when the queue is empty.',
      labelNames: ['model'] as const,
      registers,
      async collect() {
        this.reset();
        for (const q of await queues()) this.set({ model: q.model }, (q.oldestAgeMs ?? 0) / 1000);
      },
    });
    const pools = async () => poolLoad(await queues(), probes.dispatchers());
    new Gauge({
      name: 'infergate_pool_saturation',
      help: 'Work against capacity per model: (busy slots + waiting jobs) / slots of the live, non-draining engines serving it; with no slots, the waiting jobs. Above 1, requests queue. Aggregate with max.',
      labelNames: ['model'] as const,
      registers,
      async collect() {
        this.reset();
        for (const p of await pools()) this.set({ model: p.model }, p.saturation);
      },
    });
    new Gauge({
      name: 'infergate_pool_slots',
      help: 'Engine slots of each model\'s pool by state (busy, free), summed over the live, non-draining engines serving it.',
      labelNames: ['model', 'state'] as const,
      registers,
      async collect() {
        this.reset();
        for (const p of await pools()) {
          this.set({ model: p.model, state: 'busy' }, p.busy);
          this.set({ model: p.model, state: 'free' }, p.free);
        }
      },
    });
    new Gauge({
      name: 'infergate_queue_paused',
      help: '1 while an operator has paused the model queue.',
      labelNames: ['model'] as const,
      registers,
      async collect() {
        this.reset();
        for (const q of await queues()) this.set({ model: q.model }, q.paused ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Records a request the relay answered; called once, when it settles. */
  requestSettled(request: FastifyRequest, model: string, outcome: RelayOutcome, durationMs: number): void {
    this.relayed.add(request);
    const stream = outcome.stream ? 'true' : 'false';
    this.requests.inc({ route: routeOf(request), status: String(outcome.status), model });
    if (outcome.error !== undefined) this.errors.inc({ model, code: outcome.error });
    this.duration.observe({ model, stream }, durationMs / 1000);
    if (outcome.queueWaitMs !== undefined) this.queueWait.observe({ model }, outcome.queueWaitMs / 1000);
    if (outcome.ttftMs !== undefined) this.ttft.observe({ model, stream }, outcome.ttftMs / 1000);
    if (outcome.chunkGaps !== undefined) this.chunkGaps.merge(model, outcome.chunkGaps);
    if (outcome.bytes > 0) this.bytes.inc({ model }, outcome.bytes);
    if (outcome.chunks > 0) this.chunks.inc({ model }, outcome.chunks);
  }

  /** Records every other answer (health, admin, requests refused before queueing); an `onResponse` hook. */
  responseSent(request: FastifyRequest, reply: FastifyReply): void {
    if (this.relayed.has(request)) return;
    this.requests.inc({ route: routeOf(request), status: String(reply.statusCode), model: '' });
  }

  /** Counts one failed internal operation (see InternalFailures). */
  internalFailure(operation: IngressOperation): void {
    this.internalFailures.inc({ operation });
  }

  private queueSummaries(): Promise<QueueSummary[]> {
    const now = Date.now();
    if (!this.queueSnapshot || now - this.queueSnapshot.at > QUEUE_SNAPSHOT_MS) {
      // Redis away: the queue gauges go empty for this scrape, the rest still answers.
      const summaries = this.probes.inspector.summaries(this.probes.models()).catch(() => []);
      this.queueSnapshot = { at: now, summaries };
    }
    return this.queueSnapshot.summaries;
  }
}

/** The route template, so label values stay bounded whatever paths clients send. */
function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched';
}
