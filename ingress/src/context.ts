import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { IngressConfig, Logger, RedisNames } from '@infergate/shared';
import type { DrainRate } from './drainRate.js';
import type { JobQueues } from './jobQueues.js';
import type { RegistryView } from './registryView.js';
import type { ReplyRouter } from './replyRouter.js';
import type { RelayOutcome } from './requestRelay.js';

/** Everything the ingress routes share; built once per process by `startIngress`, or by a test. */
export interface IngressContext {
  readonly config: IngressConfig;
  readonly logger: Logger;
  readonly ingressId: string;
  readonly names: RedisNames;
  readonly commands: Redis;
  readonly router: ReplyRouter;
  readonly queues: JobQueues;
  readonly registry: RegistryView;
  readonly drainRate: DrainRate;
  /** True once shutdown began: new requests are refused, open ones finish. */
  draining: boolean;
  onSettled(request: FastifyRequest, model: string, outcome: RelayOutcome, durationMs: number): void;
}
