import type { FastifyRequest } from 'fastify';
import type { Queue } from 'bullmq';
import type { CancelReason, DispatcherState, InferenceJob, IngressConfig, Logger, RedisClient, RedisNames, Tracing, UsageFilter, UsageRecord } from '@infergate/shared';
import type { LaneRouter } from './affinity/laneRouter.js';
import type { Principal } from './auth/index.js';
import type { DrainRate } from './drainRate.js';
import type { FairTenant, FairTicket } from './fairness/fairShare.js';
import type { FairShareMetrics } from './fairness/fairShareMetrics.js';
import type { IngressFailures, IngressMetrics } from './metrics.js';
import type { QueueDepths } from './queueDepths.js';
import type { FrameSink } from './replyRouter.js';
import type { RelayOutcome } from './requestRelay.js';

/*
 * What the routes need, as small interfaces: `startIngress` fills them with
 * the Redis-backed classes, a test with fakes that run no Redis at all.
 */

/** The model queues, as the inference route uses them (JobQueues). */
export interface JobSubmitter {
  /** `priority`: 1 is the most urgent. */
  enqueue(job: InferenceJob, priority?: number): Promise<void>;
  /** Removes a job no dispatcher has started; false when it is running or gone. Rejects when Redis cannot say. */
  removeWaiting(model: string, rid: string): Promise<boolean>;
}

/** Fair share within a priority class, queue positions and the fleet's drain rate (FairShare). */
export interface FairQueueing {
  /** Charges the job's estimated cost to its tenant's share; resolves to its priority. Rejects when Redis does. */
  ticket(model: string, tenant: FairTenant, costTokens: number): Promise<FairTicket>;
  /** Resolves once recorded; failures are reported, never rejected. */
  started(model: string, ticket: FairTicket): Promise<void>;
  /** `served`: the tokens the engine reported, undefined when it served none. Never rejects. */
  settled(model: string, ticket: FairTicket, served: number | undefined): Promise<void>;
  /** Jobs of the model the whole fleet starts per second; undefined without a recent rate. */
  drainPerSecond(model: string): Promise<number | undefined>;
  /** Jobs started before this one, plus one; undefined when it waits nowhere (taken or gone). */
  position(model: string, rid: string, lane?: string): Promise<number | undefined>;
  readonly metrics: FairShareMetrics;
}

/** Per-key admission (KeyLimiter). */
export interface Limiter {
  /** Admits the request or throws a 429; resolves to the function that gives its slot back. */
  acquire(principal: Principal, rid: string): Promise<() => void>;
}

/** Token limits and usage records (UsageAccounting). */
export interface TokenAccounting {
  /** Refuses with a 429 a key that is over a token limit; resolves otherwise. */
  admit(principal: Principal): Promise<void>;
  /** Accounts a relayed request once it settled: its tokens and its record. */
  settled(request: FastifyRequest, model: string, outcome: RelayOutcome): void;
  /** The usage records matching `filter` (readUsage). */
  read(filter: UsageFilter): Promise<UsageRecord[]>;
}

/** The process's reply channel (ReplyRouter). */
export interface ReplyRoutes {
  readonly channel: string;
  readonly ready: boolean;
  add(rid: string, sink: FrameSink): void;
  remove(rid: string): void;
}

/** Tells whichever dispatcher holds a request to stop it, and any later copy not to start (RedisCancelPublisher). */
export interface CancelPublisher {
  publishCancel(rid: string, reason: CancelReason): void;
}

/** Sends an engine read to one dispatcher (RedisEngineReadSender). */
export interface EngineReadSender {
  /** Resolves false when the dispatcher certainly did not hear it (nobody listens on its channel). */
  send(dispatcherId: string, job: InferenceJob): Promise<boolean>;
}

/** The fleet as the dispatchers report it (RegistryView). */
export interface FleetView {
  readonly live: readonly DispatcherState[];
  readonly knownModels: ReadonlySet<string>;
  readonly fresh: boolean;
  /** The queue a request goes to; throws the catalog's 404 (or 400 without a model) otherwise. */
  resolve(requested: string | undefined): string;
}

/** The operator surface's access to Redis itself: inspection and queue control are Redis operations. */
export interface OperatorAccess {
  readonly commands: RedisClient;
  /** A model's queue, or with `lane` that dispatcher's affinity lane of it. */
  queue(model: string, lane?: string): Queue;
}

/** Everything the ingress routes share; built once per process by `startIngress`, or by a test. */
export interface IngressContext {
  readonly config: IngressConfig;
  readonly logger: Logger;
  readonly ingressId: string;
  readonly names: RedisNames;
  readonly router: ReplyRoutes;
  readonly jobs: JobSubmitter;
  /** Cache affinity: keys, index lookup, lane choice and placement of each job. Absent: every job goes to the shared queue. */
  readonly lanes?: LaneRouter;
  /** Absent (unit tests): jobs keep their class's first priority, in arrival order. */
  readonly fair?: FairQueueing;
  readonly cancels: CancelPublisher;
  readonly engineReads: EngineReadSender;
  /** Counts and logs internal failures that have no client to answer. */
  readonly failures: IngressFailures;
  readonly registry: FleetView;
  readonly drainRate: DrainRate;
  readonly queueDepths: QueueDepths;
  readonly limiter: Limiter;
  readonly usage: TokenAccounting;
  readonly metrics: IngressMetrics;
  /** OpenTelemetry tracing; absent when it is off (no OTLP endpoint), and then nothing is traced. */
  readonly tracing?: Tracing;
  /** Whether the command connection is usable now (`/readyz`). */
  redisReady(): boolean;
  /** Absent, the operator surface (`/admin`) is not served, as without ADMIN_API_KEY. */
  readonly operator?: OperatorAccess;
  /** True once shutdown began: new requests are refused, open ones finish. */
  draining: boolean;
  onSettled(request: FastifyRequest, model: string, outcome: RelayOutcome, durationMs: number): void;
}
