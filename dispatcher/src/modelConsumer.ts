import { randomUUID } from 'node:crypto';
import { Worker, type Job, type ConnectionOptions } from 'bullmq';
import { ErrorEpisode, InternalFailures, type InferenceJob, type Logger } from '@infergate/shared';
import type { SlotGate } from './modelGates.js';
import type { DispatcherOperation } from './metrics.js';

export interface ConsumerSettings {
  readonly queueName: string;
  readonly model: string;
  readonly prefix: string;
  readonly connection: ConnectionOptions;
  readonly dispatcherId: string;
  readonly lockMs: number;
  readonly stalledCheckMs: number;
}

export type JobHandler = (job: Job<InferenceJob>, token: string) => Promise<void>;

/** Bounds how long a stopping consumer, or the liveness check below, waits on a blocking fetch. */
const DRAIN_DELAY_SECONDS = 1;
/**
 * A healthy blocking fetch returns within the drain delay plus BullMQ's own
 * one-second watchdog. A fetch pending longer, fetches failing this long or a
 * blocking connection down this long is the known failure where a worker
 * never recovers after a Cluster failover or Sentinel reconnect (bullmq
 * #4138, #3185; a connection ioredis has ended): the worker is replaced
 * rather than left to hang.
 */
const STUCK_AFTER_MS = (DRAIN_DELAY_SECONDS + 1) * 1000 + 3_000;
/**
 * Around a failover, fetches that outlive BullMQ's watchdog are the rule, not
 * a slow exception: a blocking command redirected (MOVED) while the client
 * refreshes its slot map can sit unanswered for 10 s (seen on Cluster
 * failovers). For a while after a node loss the bound is therefore tight;
 * a needless replacement costs one reconnect.
 */
const STUCK_AFTER_NODE_LOSS_MS = (DRAIN_DELAY_SECONDS + 1) * 1000 + 500;
const NODE_LOSS_WINDOW_MS = 10_000;
const LIVENESS_CHECK_MS = 1_000;
/** Longest a replaced worker is kept open for its abandoned fetch to settle. */
const LATE_FETCH_WAIT_MS = 30_000;

interface Held {
  readonly token: string;
  /** The worker that fetched the job; its connection completes it. */
  readonly worker: Worker<InferenceJob>;
}

interface Fetch {
  readonly worker: Worker<InferenceJob>;
  readonly token: string;
  readonly job: Promise<Job<InferenceJob> | undefined>;
  readonly since: number;
  /** Stops waiting for `job`: the fetch resolves with nothing. */
  readonly abandon: () => void;
}

/**
 * Pulls one model's queue, and only while the engine has a free slot: the
 * loop waits for the gate, then blocks in BullMQ's push-driven fetch
 * (BZPOPMIN on the queue marker, no polling). A job that arrives after
 * another model's consumer took the last slot goes back to the head of its
 * queue, so the engine is never handed more than it can start.
 */
export class ModelConsumer {
  private worker: Worker<InferenceJob>;
  /** Replaced workers that still complete the jobs they fetched. */
  private readonly retired = new Set<Worker<InferenceJob>>();
  /** Replaced workers whose abandoned fetch has not settled yet. */
  private readonly lateFetches = new Set<Worker<InferenceJob>>();
  private readonly held = new Map<string, Held>();
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private lockTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private failingSince: number | undefined;
  private current: Fetch | undefined;
  private blockingStatus: () => string | undefined = () => undefined;
  private blockingLiveAt = Date.now();
  private nodeLostAt = 0;
  /** While Redis is away both fail every few hundred ms: one warning each, then the recovery. */
  private readonly workerErrors: ErrorEpisode;
  private readonly fetchErrors: ErrorEpisode;
  /** A consumer whose waiting jobs go before this one's when slots are contended (this model's lane). */
  yieldTo: ModelConsumer | undefined;

  constructor(
    readonly settings: ConsumerSettings,
    private readonly gate: SlotGate,
    private readonly handle: JobHandler,
    private readonly logger: Logger,
    /** Without it (tests), failures are only logged. */
    private readonly failures: InternalFailures<DispatcherOperation> = new InternalFailures(logger),
  ) {
    this.workerErrors = new ErrorEpisode(logger, 'queue worker error', { queue: settings.model });
    this.fetchErrors = new ErrorEpisode(logger, 'fetch failed; retrying', { queue: settings.model });
    this.worker = this.createWorker();
  }

  get holding(): number {
    return this.held.size;
  }

  async start(): Promise<void> {
    await this.worker.startStalledCheckTimer();
    this.lockTimer = setInterval(() => void this.renewLocks(), this.settings.lockMs / 3);
    this.livenessTimer = setInterval(() => this.checkLiveness(), LIVENESS_CHECK_MS);
    this.loop = this.run().finally(() => clearInterval(this.livenessTimer));
  }

  /** Stops pulling; jobs already held keep running and keep their locks. */
  async stopPulling(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  async close(): Promise<void> {
    await this.stopPulling();
    clearInterval(this.lockTimer);
    await Promise.all([this.worker, ...this.retired].map((w) => w.close()));
  }

  private createWorker(): Worker<InferenceJob> {
    const { settings } = this;
    const worker = new Worker<InferenceJob>(settings.queueName, null, {
      connection: settings.connection,
      prefix: settings.prefix,
      name: settings.dispatcherId,
      autorun: false,
      lockDuration: settings.lockMs,
      stalledInterval: settings.stalledCheckMs,
      maxStalledCount: 1,
      drainDelay: DRAIN_DELAY_SECONDS,
    });
    worker.on('error', (err) => {
      this.workerErrors.error(err);
      this.failures.count('queue_worker');
    });
    this.blockingLiveAt = Date.now();
    this.blockingStatus = () => undefined;
    void worker.backend.blockingClient?.then(
      (client) => {
        if (worker !== this.worker) return;
        this.blockingStatus = () => client.status;
        // A Cluster node or the server itself went away (failover, restart).
        const nodeLost = () => (this.nodeLostAt = Date.now());
        client.on('-node', nodeLost);
        client.on('close', nodeLost);
      },
      // The worker reports the same failure through its error event, and a
      // fetch on it fails, which gets the worker replaced.
      () => undefined,
    );
    return worker;
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const contended = this.gate.free <= 0;
      await this.gate.whenFree(signal);
      if (signal.aborted) break;
      // A slot that frees while jobs wait goes to the lane first (its jobs
      // were placed for this engine's cache); an idle engine needs no such
      // check, the lane's own blocking fetch is already waiting.
      if (contended && this.yieldTo && (await this.yieldTo.takeWaiting())) continue;
      const token = randomUUID();
      const worker = this.worker;
      let job: Job<InferenceJob> | undefined;
      try {
        job = await this.fetch(worker, token);
        this.failingSince = undefined;
        this.fetchErrors.recovered();
        this.workerErrors.recovered();
      } catch (err) {
        if (signal.aborted) break;
        this.failingSince ??= Date.now();
        this.fetchErrors.error(err);
        this.failures.count('queue_fetch');
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (job?.id) await this.take(job, token, worker);
    }
  }

  /**
   * Takes one job that is already waiting, without blocking: true when one
   * was taken (and started). Another consumer of the same gate calls this to
   * let this queue go first.
   */
  async takeWaiting(): Promise<boolean> {
    if (this.stop.signal.aborted) return false;
    const token = randomUUID();
    const worker = this.worker;
    let job: Job<InferenceJob> | undefined;
    try {
      job = await worker.getNextJob(token, { block: false });
    } catch (err) {
      // The other queue is tried instead; this one's own loop reports its fetch failures.
      this.failures.count('queue_fetch');
      this.fetchErrors.error(err);
      return false;
    }
    return job?.id ? this.take(job, token, worker) : false;
  }

  /** Starts a fetched job if a slot is still free, else puts it back at the head of its queue. */
  private async take(job: Job<InferenceJob>, token: string, worker: Worker<InferenceJob>): Promise<boolean> {
    if (this.stop.signal.aborted || !this.gate.tryAcquire()) {
      // Left active otherwise: stalled-job recovery returns it once its lock lapses.
      await job.moveToWait(token).catch((err: unknown) => this.failures.report('job_return', err, 'could not return job', { queue: this.settings.model, job: job.id }));
      return false;
    }
    const id = job.id!;
    this.held.set(id, { token, worker });
    void this.handle(job, token)
      // Redis may fail mid-job (a failover); the job comes back through stalled-job recovery.
      .catch((err: unknown) => this.failures.report('job_handling', err, 'job handling failed', { queue: this.settings.model, job: id }))
      .finally(() => {
        this.held.delete(id);
        this.gate.release();
        this.closeIfRetired(worker);
      });
    return true;
  }

  /** BullMQ's blocking fetch, given up on when the liveness check replaces its worker. */
  private async fetch(worker: Worker<InferenceJob>, token: string): Promise<Job<InferenceJob> | undefined> {
    const job = worker.getNextJob(token, { block: true });
    let abandon!: () => void;
    const abandoned = new Promise<undefined>((resolve) => (abandon = () => resolve(undefined)));
    this.current = { worker, token, job, since: Date.now(), abandon };
    try {
      return await Promise.race([job, abandoned]);
    } finally {
      this.current = undefined;
    }
  }

  /**
   * An abandoned fetch can still move a job to active once its connection
   * recovers (after a failover it usually does). That job goes back to the
   * queue through the same worker, which stays open until then; closed
   * earlier, the job would sit in active until stalled-job recovery.
   */
  private returnLateJob({ worker, token, job }: Fetch): void {
    this.lateFetches.add(worker);
    const settled = job
      .then((late) => late?.moveToWait(token))
      .catch((err: unknown) =>
        this.failures.report('job_return', err, 'could not return a job an abandoned fetch took; stalled-job recovery will', { queue: this.settings.model }),
      );
    const gaveUp = new Promise<void>((resolve) => setTimeout(resolve, LATE_FETCH_WAIT_MS).unref());
    void Promise.race([settled, gaveUp]).then(() => {
      this.lateFetches.delete(worker);
      this.closeIfRetired(worker);
    });
  }

  private checkLiveness(): void {
    const now = Date.now();
    const status = this.blockingStatus();
    // Unknown until the worker has connected; a fetch cannot outlive that unnoticed.
    if (status === undefined || status === 'ready' || status === 'connect') this.blockingLiveAt = now;
    const fetchLimit = now - this.nodeLostAt < NODE_LOSS_WINDOW_MS ? STUCK_AFTER_NODE_LOSS_MS : STUCK_AFTER_MS;
    const fetching = this.current;
    if (fetching && now - fetching.since > fetchLimit) {
      this.replaceWorker(`blocking fetch has not returned for ${now - fetching.since} ms`);
    } else if (this.failingSince !== undefined && now - this.failingSince > STUCK_AFTER_MS) {
      this.replaceWorker(`fetches have failed for ${now - this.failingSince} ms`);
    } else if (now - this.blockingLiveAt > STUCK_AFTER_MS) {
      this.replaceWorker(`blocking connection not ready for ${now - this.blockingLiveAt} ms (status ${status})`);
    }
  }

  private replaceWorker(reason: string): void {
    this.logger.warn({ queue: this.settings.model, reason }, 'queue worker stuck; replacing it');
    const old = this.worker;
    this.failingSince = undefined;
    this.worker = this.createWorker();
    void this.worker
      .startStalledCheckTimer()
      // Other dispatchers' workers still recover stalled jobs of this queue.
      .catch((err: unknown) => this.failures.report('worker_start', err, 'stalled-job check of a replacement worker did not start', { queue: this.settings.model }));
    this.retired.add(old);
    const fetching = this.current;
    if (fetching?.worker === old) this.returnLateJob(fetching);
    fetching?.abandon();
    this.closeIfRetired(old);
  }

  private closeIfRetired(worker: Worker<InferenceJob>): void {
    if (!this.retired.has(worker) || this.lateFetches.has(worker)) return;
    for (const h of this.held.values()) if (h.worker === worker) return;
    this.retired.delete(worker);
    // Forced: a stuck blocking connection must not hold the close up.
    void worker.close(true).catch((err: unknown) => this.failures.report('worker_close', err, 'could not close a replaced worker', { queue: this.settings.model }));
  }

  private async renewLocks(): Promise<void> {
    if (this.held.size === 0) return;
    const ids = [...this.held.keys()];
    const tokens = ids.map((id) => this.held.get(id)!.token);
    try {
      await this.worker.extendJobLocks(ids, tokens, this.settings.lockMs);
    } catch (err) {
      // A lock that lapses lets stalled-job recovery give the job to another dispatcher while it runs here.
      this.failures.report('lock_renewal', err, 'lock renewal failed', { queue: this.settings.model, jobs: ids.length });
    }
  }
}
