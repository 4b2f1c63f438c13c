import type { CancelReason } from '@infergate/shared';
import type { CancelPublisher } from '../context.js';
import type { InternalFailures } from '../internalFailures.js';
import type { RelayPhase } from '../requestRelay.js';

/**
 * How a request the relay gave up on is stopped. A job nobody has started
 * is taken out of the queue, so no engine ever sees it; one that is running,
 * or that Redis cannot say about, is cancelled by message and flag.
 */
export function cancelRequest(
  rid: string,
  reason: CancelReason,
  phase: RelayPhase,
  dequeue: () => Promise<boolean>,
  cancels: CancelPublisher,
  failures: InternalFailures,
): void {
  if (phase !== 'queued') {
    cancels.publishCancel(rid, reason);
    return;
  }
  dequeue().then(
    (removed) => {
      if (!removed) cancels.publishCancel(rid, reason);
    },
    (err: unknown) => {
      failures.report('dequeue', err, { rid });
      cancels.publishCancel(rid, reason);
    },
  );
}
