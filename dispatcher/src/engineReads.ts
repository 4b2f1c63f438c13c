import { decodeEngineRead, isPassthroughTarget, type InternalFailures, type Logger, type Subscriber } from '@infergate/shared';
import { runJob, type RunContext } from './jobRunner.js';
import type { DispatcherOperation } from './metrics.js';
import type { RunningJobs } from './runningJobs.js';

export interface EngineReadParts {
  readonly runContext: RunContext;
  readonly running: RunningJobs;
  readonly failures: InternalFailures<DispatcherOperation>;
  readonly logger: Logger;
}

// A read changes nothing on the engine, so a second one does no harm: no never-run-twice record.
const NOT_RECORDED = (): void => undefined;

/**
 * Serves the engine reads an ingress sends this dispatcher on its own
 * channel (GET /props, /slots, the web UI…): each is forwarded to the engine
 * at once, outside the capacity gate and the queue, and answered with the
 * usual frames. It is a running job for cancels and the shutdown drain. A
 * failure is answered like a queued job's last attempt: the ingress has its
 * own deadline and asks another dispatcher if this one stays silent.
 */
export async function serveEngineReads(subscriber: Subscriber, channel: string, parts: EngineReadParts): Promise<void> {
  const runContext: RunContext = { ...parts.runContext, recordStarted: NOT_RECORDED };
  await subscriber.subscribe(channel, (raw) => {
    const job = decodeEngineRead(raw.toString());
    if (job === undefined || !isPassthroughTarget(job.method, job.path)) {
      // Only an ingress sends here, and it sends nothing else; the sender's deadline answers its client.
      parts.failures.report('engine_read', new Error('not an engine read'), 'dropped a message that is not an engine read', { rid: job?.rid, path: job?.path });
      return;
    }
    const abort = parts.running.begin(job.rid);
    runJob(job, abort, true, runContext)
      .then((outcome) => {
        if (outcome.kind === 'failed') parts.logger.warn({ rid: job.rid, path: job.path, code: outcome.code }, 'engine read failed');
      })
      // runJob answers its own failures; this is the promise settling after them.
      .catch((err: unknown) => parts.failures.report('engine_read', err, 'engine read failed', { rid: job.rid }))
      .finally(() => parts.running.end(job.rid));
  });
}
