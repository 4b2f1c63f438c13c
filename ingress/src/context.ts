import type { FastifyRequest } from 'fastify';
import type { IngressConfig, Logger, RedisClient, RedisNames } from '@infergate/shared';
import type { LaneRouter } from './affinity/laneRouter.js';
import type { DrainRate } from './drainRate.js';
import type { JobQueues } from './jobQueues.js';
import type { QueueDepths } from './queueDepths.js';
import type { KeyLimiter } from './limits/index.js';
import type { IngressMetrics } from './metrics.js';
import type { RegistryView } from './registryView.js';
import type { ReplyRouter } from './replyRouter.js';
import type { RelayOutcome } from './requestRelay.js';

/** Everything the ingress routes share; built once per process by `startIngress`, or by a test. */
export interface IngressContext {
  readonly config: IngressConfig;
  readonly logger: Logger;
  readonly ingressId: string;
  readonly names: RedisNames;
  readonly commands: RedisClient;
  readonly router: ReplyRouter;
  readonly queues: JobQueues;
  /** Cache affinity: keys, index lookup, lane choice and placement of each job. */
  readonly lanes: LaneRouter;
  readonly registry: RegistryView;
  readonly drainRate: DrainRate;
  readonly queueDepths: QueueDepths;
  readonly limiter: KeyLimiter;
  readonly metrics: IngressMetrics;
  /** True once shutdown began: new requests are refused, open ones finish. */
  draining: boolean;
  onSettled(request: FastifyRequest, model: string, outcome: RelayOutcome, durationMs: number): void;
}
