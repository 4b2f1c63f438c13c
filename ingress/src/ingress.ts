import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import {
  createRedis,
  createSubscriber,
  InternalFailures,
  QueueInspector,
  redisNames,
  redisTarget,
  startTracing,
  waitReady,
  watchRedisConnection,
  type DispatcherState,
  type IngressConfig,
  type Logger,
} from '@infergate/shared';
import { IndexLookup } from './affinity/indexLookup.js';
import { KnownHeads } from './affinity/knownHeads.js';
import { LaneRouter } from './affinity/laneRouter.js';
import { buildApp } from './app.js';
import type { IngressContext } from './context.js';
import { DrainRate } from './drainRate.js';
import { FairShare, type ClassDeficits } from './fairness/fairShare.js';
import { QueuePositions } from './fairness/queuePositions.js';
import { JobQueues } from './jobQueues.js';
import { QueueDepths } from './queueDepths.js';
import { KeyLimiter } from './limits/index.js';
import { IngressMetrics, type IngressOperation } from './metrics.js';
import { RegistryView } from './registryView.js';
import { ReplyRouter } from './replyRouter.js';
import { drainOpenResponses } from './shutdownDrain.js';
import { RedisCancelPublisher } from './cancelPublisher.js';
import { RedisEngineReadSender } from './engineReads/engineReadSender.js';
import { logRequest } from './requestLog.js';
import { UsageAccounting } from './usage/usageAccounting.js';

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
  // Its own connection: the reply connection's loss fails open responses, this one's only voids the copy,
  // and the reply path keeps its one-channel fast path.
  const headsSubscriber = config.AFFINITY_ENABLED && config.AFFINITY_KNOWN_HEADS_MAX > 0 ? createRedis(target, 'subscriber', `ig-ingress-heads-${ingressId}`) : undefined;
  // The probes read the router, registry and queues below when Prometheus scrapes, long after start-up.
  const metrics = new IngressMetrics({
    openRequests: () => router.open,
    models: (): ReadonlySet<string> => registry.knownModels,
    dispatchers: (): readonly DispatcherState[] => registry.live,
    redisConnections: () => ({ commands: commands.status === 'ready', replies: router.ready }),
    knownHeads: (): ReadonlyMap<string, number> => knownHeads?.sizes() ?? new Map<string, number>(),
    inspector: new QueueInspector(commands, (model, lane): Queue => queues.forInspection(model, lane), (model) => names.laneSet(model)),
    fairShare: {
      waitingByClass: (models) => positions.waitingByClass(models),
      deficits: async (models): Promise<ClassDeficits[]> => (fair ? fair.deficits(models) : []),
    },
  }, { tokensByKey: config.USAGE_METRICS_BY_KEY, fairShareByKey: config.FAIR_SHARE_METRICS_BY_KEY });
  const failures = new InternalFailures<IngressOperation>(log, metrics);
  const positions = new QueuePositions(commands, names);
  watchRedisConnection(commands, 'commands', failures);
  watchRedisConnection(subscriber, 'replies', failures);
  if (headsSubscriber) watchRedisConnection(headsSubscriber, 'affinity_heads', failures);
  await waitReady(commands);
  const router = new ReplyRouter(createSubscriber(subscriber), names.replyChannel(ingressId), log);
  await router.start();
  const registry = new RegistryView(
    commands,
    names,
    { refreshMs: REGISTRY_REFRESH_MS, heartbeatTtlMs: config.HEARTBEAT_TTL_SECONDS * 1000 },
    { defaultModel: config.DEFAULT_MODEL, unknownModel: config.UNKNOWN_MODEL },
    failures,
  );
  await registry.start();
  const queues = new JobQueues(commands, names, failures);
  const tracing = await startTracing(config, 'infergate-ingress', { 'service.instance.id': ingressId });
  const knownHeads = headsSubscriber ? new KnownHeads(createSubscriber(headsSubscriber), commands, names, config.AFFINITY_KNOWN_HEADS_MAX, failures) : undefined;
  const lanes = new LaneRouter(config, registry, new IndexLookup(commands, names, config.AFFINITY_LOOKUP_TIMEOUT_MS), queues, metrics.affinity, knownHeads);
  const limiter = new KeyLimiter(commands, names, config.KEY_LEASE_SECONDS * 1000, failures);
  const usage = new UsageAccounting(config, commands, names, failures, metrics.tokens);
  const fair = config.FAIR_SHARE ? new FairShare(commands, names, positions, metrics.fairShare, failures) : undefined;
  const context: IngressContext = {
    config,
    logger: log,
    ingressId,
    names,
    router,
    jobs: queues,
    lanes,
    ...(fair ? { fair } : {}),
    cancels: new RedisCancelPublisher(commands, names, failures),
    engineReads: new RedisEngineReadSender(commands, names),
    failures,
    registry,
    drainRate: new DrainRate(),
    queueDepths: new QueueDepths((model) => queues.depth(model, lanes.laneOwners(model))),
    limiter,
    usage,
    metrics,
    ...(tracing ? { tracing } : {}),
    redisReady: () => commands.status === 'ready',
    operator: { commands, queue: queues.forInspection },
    draining: false,
    onSettled(request, model, outcome, durationMs) {
      metrics.requestSettled(request, model, outcome, durationMs);
      usage.settled(request, model, outcome);
      logRequest(log, request, model, outcome, durationMs);
    },
  };
  const app = await buildApp(context);
  return {
    app,
    context,
    async close() {
      context.draining = true;
      const closing = app.close();
      await drainOpenResponses(router, config.DRAIN_TIMEOUT_SECONDS * 1000, log);
      // Keep-alive connections that went idle after their last response would
      // otherwise hold the server open until their timeout.
      app.server.closeAllConnections();
      await closing;
      registry.stop();
      limiter.close();
      await queues.close();
      await router.stop();
      knownHeads?.close();
      await tracing?.shutdown();
      await commands.quit().catch(() => commands.disconnect());
    },
  };
}
