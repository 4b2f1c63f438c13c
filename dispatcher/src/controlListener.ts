import { decodeControl, type CancelReason, type Subscriber } from '@infergate/shared';

/**
 * Receives cancel messages for requests this dispatcher may be running.
 * BullMQ has no cross-process cancel, so ingress nodes broadcast one and the
 * dispatcher holding the request aborts its upstream call.
 */
export async function listenForControl(
  subscriber: Subscriber,
  channel: string,
  cancel: (rid: string, reason: CancelReason) => void,
): Promise<void> {
  await subscriber.subscribe(channel, (raw) => {
    const message = decodeControl(raw.toString());
    if (message?.type === 'cancel') cancel(message.rid, message.reason);
  });
}
