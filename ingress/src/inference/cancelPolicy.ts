import type { CancelReason } from '@infergate/shared';
import type { CancelPublisher } from '../context.js';
import type { IngressFailures } from '../metrics.js';
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
  failures: IngressFailures,
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
      failures.report('dequeue', err, 'could not remove the waiting job; cancelling it at its dispatcher instead', { rid });
      cancels.publishCancel(rid, reason);
    },
  );
}
