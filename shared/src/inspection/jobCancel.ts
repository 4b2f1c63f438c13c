import { gatewayError, type ErrorCode } from '../errors.js';
import { encodeControl } from '../protocol/control.js';
import type { CancelReason } from '../protocol/stopReason.js';
import { encodeFrame, FrameKind, jsonPayload } from '../protocol/frames.js';
import { isInferenceJob } from '../protocol/job.js';
import type { RedisClient } from '../redis/connection.js';
import type { RedisNames } from '../redis/names.js';
import { createPublisher, type Publish } from '../redis/pubsub.js';
import { QUEUED_STATES, type QueueInspector, type QueueJobState } from './queueInspector.js';

/** The cancel reason an operator's cancel carries; it is also the error code the client receives. */
export const OPERATOR_CANCEL_REASON = 'operator_cancelled' satisfies CancelReason & ErrorCode;

export interface CancelResult {
  readonly id: string;
  readonly model: string;
  /** The job's state when the cancel was asked for. */
  readonly state: QueueJobState;
  /**
   * `removed`: taken out of the queue before any dispatcher started it.
   * `cancel_sent`: it was running; the dispatchers were told to abort it.
   */
  readonly action: 'removed' | 'cancel_sent';
  /** Processes that received the notice: the client's ingress (removed) or dispatchers (cancel_sent). */
  readonly receivers: number;
}

/**
 * Cancels one job wherever it is, so that its client gets an error at once
 * instead of waiting out a timeout.
 *
 * A queued job is removed, and the ingress holding its client is sent the
 * error frame a dispatcher would have sent had it failed the request before
 * answering (sequence 0: nothing else was sent for a job that never ran).
 * A running job gets the cancel control message; the dispatcher holding it
 * aborts the engine request and reports `operator_cancelled` on the reply path.
 */
export async function cancelJob(
  inspector: QueueInspector,
  redis: RedisClient,
  names: RedisNames,
  id: string,
  models: Iterable<string>,
): Promise<CancelResult> {
  const located = await inspector.locate(id, models);
  if (!located) throw gatewayError('job_not_found', `No queued or running job has the id '${id}'.`);
  const { model, state, queue } = located;
  if (state === 'completed' || state === 'failed') throw gatewayError('job_finished');
  const { publish } = createPublisher(redis);
  if (QUEUED_STATES.has(state)) {
    const job = await queue.getJob(id);
    // remove() answers 0 for a job a dispatcher locked meanwhile: then it is running and needs the cancel message.
    if (job && (await queue.remove(id)) === 1) {
      const receivers = isInferenceJob(job.data) ? await notifyClient(publish, job.data.replyTo, id) : 0;
      return { id, model, state, action: 'removed', receivers };
    }
  }
  const receivers = await publish(
    names.controlChannel,
    encodeControl({ type: 'cancel', rid: id, reason: OPERATOR_CANCEL_REASON }),
  );
  return { id, model, state, action: 'cancel_sent', receivers };
}

function notifyClient(publish: Publish, replyTo: string, rid: string): Promise<number> {
  const err = gatewayError(OPERATOR_CANCEL_REASON);
  return publish(replyTo, encodeFrame(FrameKind.error, rid, 0, jsonPayload({ code: err.code, message: err.message })));
}
