import {
  createPublisher,
  encodeControl,
  encodeJobFate,
  type CancelReason,
  type Publish,
  type RedisClient,
  type RedisNames,
} from '@infergate/shared';
import type { CancelPublisher } from './context.js';
import type { IngressFailures } from './metrics.js';

/** Longer than any job can sit locked before stalled-job recovery returns it. */
const ABANDONED_FLAG_SECONDS = 3600;

/**
 * Cancels over Redis. A running request is stopped by whichever dispatcher
 * holds it (the control channel); the job-fate record, set to abandoned,
 * also stops a copy that stalled-job recovery would start again later
 * (dispatchers check it before re-running a job).
 */
export class RedisCancelPublisher implements CancelPublisher {
  private readonly publish: Publish;

  constructor(
    private readonly commands: RedisClient,
    private readonly names: RedisNames,
    private readonly failures: IngressFailures,
  ) {
    this.publish = createPublisher(commands).publish;
  }

  publishCancel(rid: string, reason: CancelReason): void {
    // A lost cancel leaves the engine generating for nobody until the job ends; counted and logged, nothing to retry.
    this.publish(this.names.controlChannel, encodeControl({ type: 'cancel', rid, reason })).catch((err: unknown) =>
      this.failures.report('cancel_publish', err, 'cancel not published; the engine goes on until the job ends', { rid }),
    );
    this.commands
      .set(this.names.jobFate(rid), encodeJobFate({ kind: 'abandoned' }), 'EX', ABANDONED_FLAG_SECONDS)
      .catch((err: unknown) => this.failures.report('abandoned_flag', err, 'abandoned flag not written', { rid }));
  }
}
