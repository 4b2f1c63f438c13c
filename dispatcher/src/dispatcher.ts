import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ConnectionOptions, Job } from 'bullmq';
import {
  createRedis,
  waitReady,
  createSubscriber,
  isInferenceJob,
  redisNames,
  redisTarget,
  type DispatcherConfig,
  type DispatcherState,
  type InferenceJob,
  type Logger,
  workerConnection,
} from '@infergate/shared';
import { cacheFigures } from './affinity/engineCacheFigures.js';
import { AffinityLanes } from './affinity/lanes.js';
import { CapacityGate } from './capacityGate.js';
import { listenForControl } from './controlListener.js';
import { EngineMonitor } from './engineMonitor.js';
import { createAdapter, detectEngineKind, EngineClient, type EngineAdapter, type EngineKind } from './engines/index.js';
import { runJob, type RunContext } from './jobRunner.js';
import { DispatcherMetrics } from './metrics.js';
import { ModelConsumer } from './modelConsumer.js';
import { Registration } from './registration.js';
import { FrameChannel } from './frameChannel.js';
import { ReplyPublisher } from './replyPublisher.js';
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

const PROBE_TIMEOUT_MS = 2_000;
// On a Cluster, a reply that reached no subscriber proves nothing (see FrameChannel).
const ignoreUnheard = (): void => undefined;
const MODEL_REFRESH_MS = 30_000;

export async function startDispatcher(config: DispatcherConfig, logger: Logger): Promise<DispatcherHandle> {
  const id = config.DISPATCHER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const log = logger.child({ dispatcher: id });
  const names = redisNames(config.REDIS_PREFIX);
  const target = redisTarget(config);
  const commands = createRedis(target, 'command', `ig-dispatcher-${id}`);
  const subscriber = createRedis(target, 'subscriber', `ig-dispatcher-ctl-${id}`);
  for (const c of [commands, subscriber]) c.on('error', (err: Error) => log.debug({ err: err.message }, 'redis'));
  // Wrong credentials or an unreachable Redis stop start-up with a clear message, not endless retries.
  await waitReady(commands);
  const control = createSubscriber(subscriber);
  control.onLoss((reason) => log.warn({ reason }, 'control channel interrupted; cancels sent meanwhile are lost'));
  const engine = new EngineClient(config.ENGINE_URL, config.ENGINE_API_KEY ? { authorization: `Bearer ${config.ENGINE_API_KEY}` } : {});
  const gate = new CapacityGate();
  const startedAt = Date.now();
  const running = new Map<string, AbortController>();
  const consumers = new Map<string, ModelConsumer>();
  let draining = false;

  const kind = await resolveKind(config.ENGINE_KIND, engine, log);
  if (kind === 'vllm' && config.ENGINE_SLOTS === undefined) {
    throw new Error('ENGINE_SLOTS: is required for vLLM engines (vLLM does not expose max_num_seqs)');
  }
  const adapter: EngineAdapter = createAdapter(kind, engine, {
    ...(config.ENGINE_SLOTS === undefined ? {} : { slots: config.ENGINE_SLOTS }),
    probeTimeoutMs: PROBE_TIMEOUT_MS,
    kvMaxUsage: config.KV_CACHE_MAX_USAGE,
  });
  const metrics = new DispatcherMetrics({
    dispatcherId: id,
    engineKind: kind,
    gate,
    draining: () => draining,
    redisConnections: () => ({ commands: commands.status === 'ready', control: control.ready }),
  });
  const laneMetrics = metrics.lanes;
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
  );

  const frames = new FrameChannel(commands);
  const publishers = new Set<ReplyPublisher>();
  const heartbeatMs = config.HEARTBEAT_INTERVAL_SECONDS * 1000;
  // One ticker for every open request: a quiet request (long prefill, slow
  // engine) still proves to its ingress that this dispatcher is alive.
  const heartbeatTimer = setInterval(() => {
    for (const p of publishers) if (p.quietFor >= heartbeatMs) p.heartbeat();
  }, heartbeatMs);
  const runContext: RunContext = {
    engine,
    dispatcherId: id,
    backendTimeoutMs: config.BACKEND_TIMEOUT_SECONDS * 1000,
    idleTimeoutMs: config.IDLE_TIMEOUT_SECONDS * 1000,
    openPublisher: (job, onGone) => {
      const publisher = new ReplyPublisher(frames, job.replyTo, job.rid, frames.countsAllSubscribers ? onGone : ignoreUnheard);
      publishers.add(publisher);
      return publisher;
    },
    closePublisher: (publisher) => publishers.delete(publisher),
    markStarted: (job) => {
      // After the head's PUBLISH has been written (it leaves at the end of this
      // turn): written first, the flag would make Redis handle it and sleep
      // before the frames the client is waiting for arrive.
      setImmediate(() => {
        commands.set(names.startedFlag(job.rid), id, 'EX', Math.ceil(config.BACKEND_TIMEOUT_SECONDS) + 60).catch(() => undefined);
        lanes?.writer.record(job);
      });
    },
    answered: (job, tail) => {
      const figures = cacheFigures(tail);
      if (figures) laneMetrics.engineCache(job.model, figures);
    },
  };

  async function handle(job: Job<InferenceJob>, token: string): Promise<void> {
    const data: unknown = job.data;
    const lane = names.laneOfQueue(job.queueName);
    const model = lane?.model ?? names.modelOfQueue(job.queueName) ?? job.queueName;
    metrics.pulled(model);
    laneMetrics.pulled(model, lane !== undefined);
    if (!isInferenceJob(data)) {
      metrics.finished(model, 'invalid');
      await job.moveToFailed(new Error('not an infergate job of this version'), token, false).catch(() => undefined);
      return;
    }
    // Nobody waits for an expired job (its ingress answered 503), and a job
    // whose bytes already reached a client must never run a second time.
    // A job moved out of a lane may have been cancelled on the way.
    const seenBefore = job.attemptsStarted > 1 || data.affinity?.moved === true;
    if (Date.now() > data.deadline + config.BACKEND_TIMEOUT_SECONDS * 1000 || (seenBefore && (await commands.exists(names.startedFlag(data.rid))) === 1)) {
      metrics.finished(model, 'skipped');
      await job.moveToCompleted('skipped', token, false).catch(() => undefined);
      return;
    }
    const abort = new AbortController();
    running.set(data.rid, abort);
    try {
      const outcome = await runJob(data, abort, job.attemptsStarted >= config.MAX_ATTEMPTS, runContext);
      metrics.finished(model, outcome.kind);
      if (outcome.kind === 'retry') {
        log.warn({ rid: data.rid, reason: outcome.reason, attempt: job.attemptsStarted }, 'engine failed before answering; job returned to the queue');
        monitor.markFailed(outcome.reason);
        if (lane && lanes) await lanes.retryElsewhere(job, token);
        else await job.moveToWait(token);
      } else {
        if (outcome.kind === 'served') monitor.markServed();
        await job.moveToCompleted(outcome.kind, token, false);
      }
    } catch (err) {
      log.warn({ rid: data.rid, err: (err as Error).message }, 'job bookkeeping failed');
    } finally {
      running.delete(data.rid);
    }
  }

  const queueConnection = workerConnection(target, `ig-dispatcher-q-${id}`) as ConnectionOptions;
  const consumerOf = (queueName: string, model: string) =>
    new ModelConsumer(
      {
        queueName,
        model,
        prefix: names.bullPrefix,
        connection: queueConnection,
        dispatcherId: id,
        lockMs: config.JOB_LOCK_SECONDS * 1000,
        stalledCheckMs: config.STALLED_CHECK_SECONDS * 1000,
      },
      gate,
      handle,
      log,
    );
  const lanes = config.AFFINITY_ENABLED
    ? new AffinityLanes(
        commands,
        names,
        {
          dispatcherId: id,
          indexTtlSeconds: config.AFFINITY_INDEX_TTL_SECONDS,
          adoptEveryMs: config.STALLED_CHECK_SECONDS * 1000,
          heartbeatTtlMs: config.HEARTBEAT_TTL_SECONDS * 1000,
        },
        consumerOf,
        laneMetrics,
        log,
      )
    : undefined;
  async function syncModels(): Promise<void> {
    let served: string[];
    try {
      served = config.ENGINE_MODELS ?? (await adapter.models());
    } catch {
      return;
    }
    for (const model of new Set([...served, ...config.MODEL_ALIASES])) {
      if (consumers.has(model) || draining) continue;
      const consumer = consumerOf(names.queueName(model), model);
      consumers.set(model, consumer);
      await consumer.start();
      await lanes?.addModel(model, consumer);
      log.info({ model }, 'consuming model queue');
    }
  }

  const state = (): DispatcherState => {
    const g = gate.state;
    if (monitor.snapshot) lanes?.epoch.observe(monitor.snapshot.ready);
    return {
      id,
      engineUrl: engine.origin,
      engineKind: kind,
      models: [...consumers.keys()],
      ready: g.ready,
      slots: { total: g.total, busy: g.inFlight + g.outside, free: g.free },
      inFlight: g.inFlight,
      outsideLoad: g.outside,
      blockedBy: draining ? 'draining' : (g.blockedBy ?? null),
      lastError: monitor.lastError ?? null,
      startedAt,
      updatedAt: Date.now(),
      draining,
      ...(lanes ? { affinityEpoch: lanes.epoch.current } : {}),
    };
  };

  await listenForControl(control, names.controlChannel, (rid, reason) => running.get(rid)?.abort(reason));
  await monitor.start();
  await syncModels();
  lanes?.start();
  const modelTimer = setInterval(() => void syncModels(), MODEL_REFRESH_MS);
  // Until the engine is ready its models may be unknown; look again on every poll until some are.
  const earlyModels = setInterval(() => {
    if (consumers.size > 0) clearInterval(earlyModels);
    else void syncModels();
  }, config.METRICS_CACHE_TTL_SECONDS * 1000);
  const registration = new Registration(
    commands,
    names,
    { intervalMs: config.HEARTBEAT_INTERVAL_SECONDS * 1000, ttlSeconds: config.HEARTBEAT_TTL_SECONDS },
    state,
    log,
  );
  await registration.start();
  const status = await startStatusServer(config.STATUS_HOST, config.STATUS_PORT, state, { '/metrics': metrics.route });
  log.info({ engine: engine.origin, kind, models: [...consumers.keys()], statusPort: status.port }, 'dispatcher started');

  return {
    id,
    gate,
    statusPort: status.port,
    state,
    async close() {
      draining = true;
      clearInterval(modelTimer);
      clearInterval(earlyModels);
      await registration.beat();
      await Promise.all([...consumers.values()].map((c) => c.stopPulling()));
      await lanes?.drain();
      const deadline = Date.now() + config.DRAIN_TIMEOUT_SECONDS * 1000;
      while (running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // An error code as the reason: the runner tells the client why instead of going silent.
      for (const abort of running.values()) abort.abort('shutting_down');
      clearInterval(heartbeatTimer);
      monitor.stop();
      await Promise.all([...consumers.values()].map((c) => c.close()));
      await lanes?.close();
      await registration.deregister(id);
      await engine.close();
      status.server.close();
      control.close();
      await commands.quit().catch(() => commands.disconnect());
      log.info('dispatcher stopped');
    },
  };
}

async function resolveKind(configured: 'auto' | EngineKind, engine: EngineClient, log: Logger): Promise<EngineKind> {
  if (configured !== 'auto') return configured;
  for (let attempt = 0; ; attempt++) {
    const kind = await detectEngineKind(engine, PROBE_TIMEOUT_MS);
    if (kind) return kind;
    if (attempt % 10 === 0) log.info({ engine: engine.origin }, 'waiting for the engine to identify itself (ENGINE_KIND=auto)');
    await new Promise((r) => setTimeout(r, 500));
  }
}
