import { randomUUID } from 'node:crypto';
import { Worker, type Job, type ConnectionOptions } from 'bullmq';
import type { InferenceJob, Logger } from '@infergate/shared';
import type { CapacityGate } from './capacityGate.js';

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

/**
 * Pulls one model's queue, and only while the engine has a free slot: the
 * loop waits for the gate, then blocks in BullMQ's push-driven fetch
 * (BZPOPMIN on the queue marker, no polling). A job that arrives after
 * another model's consumer took the last slot goes back to the head of its
 * queue, so the engine is never handed more than it can start.
 */
export class ModelConsumer {
  private readonly worker: Worker<InferenceJob>;
  private readonly held = new Map<string, string>();
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private lockTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly settings: ConsumerSettings,
    private readonly gate: CapacityGate,
    private readonly handle: JobHandler,
    private readonly logger: Logger,
  ) {
    this.worker = new Worker<InferenceJob>(settings.queueName, null, {
      connection: settings.connection,
      prefix: settings.prefix,
      name: settings.dispatcherId,
      autorun: false,
      lockDuration: settings.lockMs,
      stalledInterval: settings.stalledCheckMs,
      maxStalledCount: 1,
      // Bounds how long a stopping consumer sits in its blocking fetch.
      drainDelay: 2,
    });
    this.worker.on('error', (err) => this.logger.warn({ err: err.message, queue: settings.model }, 'queue worker error'));
  }

  get holding(): number {
    return this.held.size;
  }

  async start(): Promise<void> {
    await this.worker.startStalledCheckTimer();
    this.lockTimer = setInterval(() => void this.renewLocks(), this.settings.lockMs / 3);
    this.loop = this.run();
  }

  /** Stops pulling; jobs already held keep running and keep their locks. */
  async stopPulling(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  async close(): Promise<void> {
    await this.stopPulling();
    clearInterval(this.lockTimer);
    await this.worker.close();
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      await this.gate.whenFree(signal);
      if (signal.aborted) break;
      const token = randomUUID();
      let job: Job<InferenceJob> | undefined;
      try {
        job = await this.worker.getNextJob(token, { block: true });
      } catch (err) {
        if (signal.aborted) break;
        this.logger.warn({ err: (err as Error).message, queue: this.settings.model }, 'fetch failed; retrying');
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (!job?.id) continue;
      if (signal.aborted || !this.gate.tryAcquire()) {
        await job.moveToWait(token).catch((err: Error) => this.logger.warn({ err: err.message }, 'could not return job'));
        continue;
      }
      const id = job.id;
      this.held.set(id, token);
      void this.handle(job, token).finally(() => {
        this.held.delete(id);
        this.gate.release();
      });
    }
  }

  private async renewLocks(): Promise<void> {
    if (this.held.size === 0) return;
    const ids = [...this.held.keys()];
    const tokens = ids.map((id) => this.held.get(id)!);
    try {
      await this.worker.extendJobLocks(ids, tokens, this.settings.lockMs);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'lock renewal failed');
    }
  }
}
