import type { Job } from 'bullmq';
import { isInferenceJob, type InferenceJob, type InternalFailures, type Logger, type RedisNames } from '@infergate/shared';
import type { AffinityLanes } from './affinity/lanes.js';
import type { EngineMonitor } from './engineMonitor.js';
import type { JobFates } from './jobFates.js';
import { runJob, type RunContext } from './jobRunner.js';
import type { JobTracer } from './jobTrace.js';
import type { DispatcherMetrics, DispatcherOperation } from './metrics.js';
import type { JobHandler } from './modelConsumer.js';
import type { RunningJobs } from './runningJobs.js';

export interface LifecycleSettings {
  readonly backendTimeoutMs: number;
  readonly maxAttempts: number;
}

export interface LifecycleParts {
  readonly names: RedisNames;
  readonly metrics: DispatcherMetrics;
  /** The engine's breaker: a failure before answering takes it out of rotation for a while. */
  readonly monitor: EngineMonitor;
  readonly running: RunningJobs;
  readonly fates: JobFates;
  /** Cache affinity, when on: where a lane job its engine failed goes instead of back to its lane. */
  readonly lanes: AffinityLanes | undefined;
  readonly runContext: RunContext;
  readonly failures: InternalFailures<DispatcherOperation>;
  readonly logger: Logger;
  /** OpenTelemetry spans of each job; absent when tracing is off. */
  readonly tracer?: JobTracer;
}

/**
 * What happens to a job between the fetch and its return to BullMQ: it is
 * checked, skipped when nobody waits for it or its client already saw a
 * response, run, then completed, failed or returned to the queue for
 * another engine, and its outcome tells the breaker how the engine did.
 */
export class JobLifecycle {
  constructor(
    private readonly settings: LifecycleSettings,
    private readonly parts: LifecycleParts,
  ) {}

  readonly handle: JobHandler = async (job, token) => {
    const { metrics } = this.parts;
    const data: unknown = job.data;
    const lane = this.parts.names.laneOfQueue(job.queueName);
    const model = lane?.model ?? this.parts.names.modelOfQueue(job.queueName) ?? job.queueName;
    metrics.pulled(model);
    metrics.lanes.pulled(model, lane !== undefined);
    if (!isInferenceJob(data)) {
      metrics.finished(model, 'invalid');
      await this.settle(job, undefined, () => job.moveToFailed(new Error('not an infergate job of this version'), token, false));
      return;
    }
    const skip = await this.mustSkip(job, data);
    // Left active when unknown: stalled-job recovery offers it again once its lock lapses.
    if (skip === 'unknown') return;
    if (skip) {
      metrics.finished(model, 'skipped');
      await this.settle(job, data.rid, () => job.moveToCompleted('skipped', token, false));
      return;
    }
    await this.run(job, data, model, token, lane?.dispatcher);
  };

  /**
   * Nobody waits for an expired job (its ingress answered 503), and a job
   * whose bytes already reached a client, or that its ingress abandoned,
   * must never run a second time.
   */
  private async mustSkip(job: Job, data: InferenceJob): Promise<boolean | 'unknown'> {
    if (Date.now() > data.deadline + this.settings.backendTimeoutMs) return true;
    // A job moved out of a lane may have been cancelled on the way: its fate says so.
    if (job.attemptsStarted <= 1 && data.affinity?.moved !== true) return false;
    try {
      return (await this.parts.fates.read(data.rid)) !== undefined;
    } catch (err) {
      this.parts.failures.report('job_fate_read', err, 'could not read whether the job already ran; leaving it to stalled-job recovery', { rid: data.rid });
      return 'unknown';
    }
  }

  /** `lane`: the dispatcher whose affinity lane the job came from; undefined for the shared queue. */
  private async run(job: Job, data: InferenceJob, model: string, token: string, lane: string | undefined): Promise<void> {
    const { metrics, monitor, running } = this.parts;
    const fromLane = lane !== undefined;
    const abort = running.begin(data.rid);
    const trace = this.parts.tracer?.start(job, data, lane);
    try {
      const outcome = await runJob(data, abort, job.attemptsStarted >= this.settings.maxAttempts, this.parts.runContext, trace);
      trace?.finished(outcome);
      metrics.finished(model, outcome.kind);
      if (outcome.kind === 'retry') {
        this.parts.logger.warn({ rid: data.rid, reason: outcome.reason, attempt: job.attemptsStarted }, 'engine failed before answering; job returned to the queue');
        monitor.markFailed(outcome.reason);
        // Back in its lane, only this failing engine would look at it.
        if (fromLane && this.parts.lanes) await this.parts.lanes.retryElsewhere(job as Job<InferenceJob>, token);
        else await job.moveToWait(token);
      } else {
        if (outcome.kind === 'served') monitor.markServed();
        await job.moveToCompleted(outcome.kind, token, false);
      }
    } catch (err) {
      // The job stays active; stalled-job recovery returns it once its lock lapses.
      this.parts.failures.report('job_settle', err, 'job bookkeeping failed', { rid: data.rid });
    } finally {
      running.end(data.rid);
    }
  }

  private async settle(job: Job, rid: string | undefined, move: () => Promise<unknown>): Promise<void> {
    try {
      await move();
    } catch (err) {
      this.parts.failures.report('job_settle', err, 'could not settle a job that was not run; stalled-job recovery offers it again', { job: job.id, rid });
    }
  }
}
