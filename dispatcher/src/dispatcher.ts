import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ConnectionOptions } from 'bullmq';
import {
  createRedis,
  createSubscriber,
  ErrorEpisode,
  InternalFailures,
  redisNames,
  redisTarget,
  startTracing,
  waitReady,
  watchRedisConnection,
  workerConnection,
  type DispatcherConfig,
  type DispatcherState,
  type Logger,
} from '@infergate/shared';
import { cacheFigures } from './affinity/engineCacheFigures.js';
import { AffinityLanes } from './affinity/lanes.js';
import { PrefillRate } from './affinity/prefillRate.js';
import { CapacityGate } from './capacityGate.js';
import { listenForControl } from './controlListener.js';
import { EngineMonitor } from './engineMonitor.js';
import { serveEngineReads } from './engineReads.js';
import { connectEngine } from './engineSetup.js';
import { FrameChannel } from './frameChannel.js';
import { HeartbeatTicker } from './heartbeatTicker.js';
import { JobFates } from './jobFates.js';
import { JobLifecycle } from './jobLifecycle.js';
import { JobTracer } from './jobTrace.js';
import type { RunContext } from './jobRunner.js';
import { DispatcherMetrics, type DispatcherOperation } from './metrics.js';
import { ModelConsumer } from './modelConsumer.js';
import { ModelCards } from './modelCards.js';
import { ModelDiscovery } from './modelDiscovery.js';
import { ModelGates } from './modelGates.js';
import { Registration } from './registration.js';
import { ReplyPublisher } from './replyPublisher.js';
import { RunningJobs } from './runningJobs.js';
import { Shutdown } from './shutdown.js';
import { stateSnapshot } from './stateSnapshot.js';
import { startStatusServer } from './statusServer.js';

export interface DispatcherHandle {
  readonly id: string;
  readonly gate: CapacityGate;
  /** Port of the status server (probes, state, metrics). */
  readonly statusPort: number;
  state(): DispatcherState;
  /** Stops pulling, lets running jobs finish within the drain budget, deregisters. */
  close(): Promise<void>;
}

// On a Cluster, a reply that reached no subscriber proves nothing (see FrameChannel).
const ignoreUnheard = (): void => undefined;

export async function startDispatcher(config: DispatcherConfig, logger: Logger): Promise<DispatcherHandle> {
  const id = config.DISPATCHER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const startedAt = Date.now();
  const log = logger.child({ dispatcher: id });
  const names = redisNames(config.REDIS_PREFIX);
  const target = redisTarget(config);
  const gate = new CapacityGate();
  const modelGates = new ModelGates(gate);
  const shutdown = new Shutdown(config.DRAIN_TIMEOUT_SECONDS * 1000, log);
  // Scraped only once the status server is up, after everything below exists.
  const metrics: DispatcherMetrics = new DispatcherMetrics({
    dispatcherId: id,
    gate,
    draining: () => shutdown.draining,
    redisConnections: () => ({ commands: commands.status === 'ready', control: control.ready }),
    prefixCache: () => monitor.snapshot?.prefixCache,
  });
  const failures = new InternalFailures<DispatcherOperation>(log, metrics);
  const commands = createRedis(target, 'command', `ig-dispatcher-${id}`);
  const subscriber = createRedis(target, 'subscriber', `ig-dispatcher-ctl-${id}`);
  watchRedisConnection(commands, 'commands', failures);
  watchRedisConnection(subscriber, 'control', failures);
  // Wrong credentials or an unreachable Redis stop start-up with a clear message, not endless retries.
  await waitReady(commands);
  const control = createSubscriber(subscriber);
  // Lost again on every reconnect attempt while Redis is away: one warning per outage.
  const controlLoss = new ErrorEpisode(log, 'control channel interrupted; cancels sent meanwhile are lost', {}, 'control channel restored');
  control.onLoss((reason) => controlLoss.error(reason));
  subscriber.on('ready', () => controlLoss.recovered());
  const { engine, kind, adapter } = await connectEngine(config, log);
  metrics.engineIdentified(kind);
  const monitor = new EngineMonitor(
    adapter,
    gate,
    {
      intervalMs: config.METRICS_CACHE_TTL_SECONDS * 1000,
      maxRequestQueue: config.MAX_ALLOWED_REQUEST_QUEUE,
      maxDeferred: config.MAX_ALLOWED_DEFERRED,
      configuredSlots: config.ENGINE_SLOTS,
    },
    log,
    failures,
    (snap) => modelGates.apply(snap),
  );

  const frames = new FrameChannel(commands);
  const heartbeats = new HeartbeatTicker(config.HEARTBEAT_INTERVAL_SECONDS * 1000);
  const running = new RunningJobs();
  const fates = new JobFates(commands, names, { dispatcherId: id, ttlSeconds: Math.ceil(config.BACKEND_TIMEOUT_SECONDS) + 60 }, failures);
  const consumerSettings = {
    prefix: names.bullPrefix,
    connection: workerConnection(target, `ig-dispatcher-q-${id}`) as ConnectionOptions,
    dispatcherId: id,
    lockMs: config.JOB_LOCK_SECONDS * 1000,
    stalledCheckMs: config.STALLED_CHECK_SECONDS * 1000,
  };
  // Lane consumers run jobs through the same lifecycle as the shared queues' (made below, used later).
  const lanes: AffinityLanes | undefined = config.AFFINITY_ENABLED
    ? new AffinityLanes(
        commands,
        names,
        {
          dispatcherId: id,
          indexTtlSeconds: config.AFFINITY_INDEX_TTL_SECONDS,
          adoptEveryMs: config.STALLED_CHECK_SECONDS * 1000,
          heartbeatTtlMs: config.HEARTBEAT_TTL_SECONDS * 1000,
        },
        (queueName, model): ModelConsumer => new ModelConsumer({ ...consumerSettings, queueName, model }, modelGates.gateFor(model), (job, token) => lifecycle.handle(job, token), log, failures),
        metrics.lanes,
        failures,
        log,
      )
    : undefined;
  const prefill = new PrefillRate();
  const runContext: RunContext = {
      engine,
      dispatcherId: id,
      backendTimeoutMs: config.BACKEND_TIMEOUT_SECONDS * 1000,
      idleTimeoutMs: config.IDLE_TIMEOUT_SECONDS * 1000,
      openPublisher: (job, onGone) => {
        const publisher = new ReplyPublisher(frames, job.replyTo, job.rid, frames.countsAllSubscribers ? onGone : ignoreUnheard);
        heartbeats.watch(publisher);
        return publisher;
      },
      closePublisher: (publisher) => heartbeats.unwatch(publisher),
      recordStarted: (rid) => fates.recordStarted(rid),
      failures,
      ...(lanes ? { engineAccepted: (job) => lanes.writer.record(job) } : {}),
      answered: (job, tail) => {
        const figures = cacheFigures(tail);
        if (!figures) return;
        metrics.lanes.engineCache(job.model, figures);
        prefill.observe(figures);
      },
  };
  const tracing = await startTracing(config, 'infergate-dispatcher', { 'service.instance.id': id });
  const lifecycle = new JobLifecycle(
    { backendTimeoutMs: config.BACKEND_TIMEOUT_SECONDS * 1000, maxAttempts: config.MAX_ATTEMPTS },
    {
      names,
      metrics,
      monitor,
      running,
      fates,
      lanes,
      failures,
      logger: log,
      runContext,
      ...(tracing ? { tracer: new JobTracer(tracing, { dispatcherId: id, origin: engine.origin, kind }) } : {}),
    },
  );
  const discovery = new ModelDiscovery(
    {
      configuredModels: config.ENGINE_MODELS,
      aliases: config.MODEL_ALIASES,
      earlyIntervalMs: config.METRICS_CACHE_TTL_SECONDS * 1000,
      consumer: consumerSettings,
    },
    { adapter, names, gateFor: (model) => modelGates.gateFor(model), handle: lifecycle.handle, failures, logger: log, ...(lanes ? { opened: (model, consumer) => lanes.addModel(model, consumer) } : {}) },
  );
  const cards = new ModelCards(engine, config.METRICS_CACHE_TTL_SECONDS * 1000, failures, log);
  const state = stateSnapshot({
    id,
    engineUrl: engine.origin,
    engineKind: kind,
    startedAt,
    gate,
    monitor,
    models: () => discovery.models,
    modelCards: () => cards.current,
    draining: () => shutdown.draining,
    ...(lanes ? { affinityEpoch: () => lanes.epoch.after(monitor.snapshot), prefillMsPerToken: () => prefill.msPerToken } : {}),
  });

  await listenForControl(control, names.controlChannel, (rid, reason) => running.abort(rid, reason));
  await serveEngineReads(control, names.engineReadChannel(id), { runContext, running, failures, logger: log });
  await monitor.start();
  await discovery.start();
  lanes?.start();
  await cards.start();
  const registration = new Registration(
    commands,
    names,
    { intervalMs: config.HEARTBEAT_INTERVAL_SECONDS * 1000, ttlSeconds: config.HEARTBEAT_TTL_SECONDS },
    state,
    log,
    failures,
  );
  await registration.start();
  const status = await startStatusServer(config.STATUS_HOST, config.STATUS_PORT, state, { '/metrics': metrics.route });
  log.info({ engine: engine.origin, kind, models: discovery.models, statusPort: status.port }, 'dispatcher started');

  return {
    id,
    gate,
    statusPort: status.port,
    state,
    close: async () => {
      cards.stop();
      await shutdown.run({ id, registration, discovery, lanes, running, heartbeats, monitor, engine, status: status.server, control, commands });
      await tracing?.shutdown();
    },
  };
}
