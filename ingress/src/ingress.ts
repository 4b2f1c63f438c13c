import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import {
  createRedis,
  createSubscriber,
  gatewayError,
  QueueInspector,
  redisNames,
  redisTarget,
  waitReady,
  type IngressConfig,
  type Logger,
} from '@infergate/shared';
import { IndexLookup } from './affinity/indexLookup.js';
import { LaneRouter } from './affinity/laneRouter.js';
import { buildApp } from './app.js';
import type { IngressContext } from './context.js';
import { DrainRate } from './drainRate.js';
import { JobQueues } from './jobQueues.js';
import { QueueDepths } from './queueDepths.js';
import { KeyLimiter } from './limits/index.js';
import { IngressMetrics } from './metrics.js';
import { RegistryView } from './registryView.js';
import { ReplyRouter } from './replyRouter.js';

export interface IngressHandle {
  readonly app: FastifyInstance;
  readonly context: IngressContext;
  /** Stops accepting, lets open responses finish within the drain budget, then closes. */
  close(): Promise<void>;
}

const REGISTRY_REFRESH_MS = 1_000;

export async function startIngress(config: IngressConfig, logger: Logger): Promise<IngressHandle> {
  const ingressId = config.INGRESS_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const log = logger.child({ ingress: ingressId });
  const names = redisNames(config.REDIS_PREFIX);
  const target = redisTarget(config);
  const commands = createRedis(target, 'command', `ig-ingress-${ingressId}`);
  const subscriber = createRedis(target, 'subscriber', `ig-ingress-reply-${ingressId}`);
  for (const c of [commands, subscriber]) c.on('error', (err: Error) => log.debug({ err: err.message }, 'redis'));
  await waitReady(commands);
  const router = new ReplyRouter(createSubscriber(subscriber), names.replyChannel(ingressId), log);
  await router.start();
  const registry = new RegistryView(
    commands,
    names,
    { refreshMs: REGISTRY_REFRESH_MS, heartbeatTtlMs: config.HEARTBEAT_TTL_SECONDS * 1000 },
    { defaultModel: config.DEFAULT_MODEL, unknownModel: config.UNKNOWN_MODEL },
    log,
  );
  await registry.start();
  const queues = new JobQueues(commands, names);
  const metrics = new IngressMetrics({
    openRequests: () => router.open,
    models: () => registry.knownModels,
    liveDispatchers: () => registry.live.length,
    redisConnections: () => ({ commands: commands.status === 'ready', replies: router.ready }),
    inspector: new QueueInspector(commands, queues.forInspection, names.laneSet),
  });
  const lanes = new LaneRouter(
    config,
    registry,
    new IndexLookup(commands, names, config.AFFINITY_LOOKUP_TIMEOUT_MS),
    queues,
    metrics.affinity,
  );
  const context: IngressContext = {
    config,
    logger: log,
    ingressId,
    names,
    commands,
    router,
    queues,
    lanes,
    registry,
    drainRate: new DrainRate(),
    queueDepths: new QueueDepths((model) => queues.depth(model, lanes.laneOwners(model))),
    limiter: new KeyLimiter(commands, names, config.KEY_LEASE_SECONDS * 1000),
    metrics,
    draining: false,
    onSettled(request, model, outcome, durationMs) {
      metrics.requestSettled(request, model, outcome, durationMs);
      log.info(
        {
          rid: request.id,
          principal: request.principal && `${request.principal.kind}:${request.principal.id}`,
          path: request.url.split('?')[0],
          model,
          dispatcher: outcome.dispatcher,
          status: outcome.status,
          error: outcome.error,
          queueWaitMs: outcome.queueWaitMs,
          headMs: outcome.headMs,
          ttftMs: outcome.ttftMs,
          durationMs,
          bytes: outcome.bytes,
        },
        'request',
      );
    },
  };
  const app = await buildApp(context);
  return {
    app,
    context,
    async close() {
      context.draining = true;
      const closing = app.close();
      const deadline = Date.now() + config.DRAIN_TIMEOUT_SECONDS * 1000;
      while (router.open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (router.open > 0) log.warn({ open: router.open }, 'drain budget spent; failing open responses');
      router.failAll(gatewayError('shutting_down'));
      // Keep-alive connections that went idle after their last response would
      // otherwise hold the server open until their timeout.
      app.server.closeAllConnections();
      await closing;
      registry.stop();
      context.limiter.close();
      await queues.close();
      await router.stop();
      await commands.quit().catch(() => commands.disconnect());
    },
  };
}
