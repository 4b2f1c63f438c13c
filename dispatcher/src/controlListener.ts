import type { Redis } from 'ioredis';
import { decodeControl, type Logger } from '@infergate/shared';

/**
 * Receives cancel messages for requests this dispatcher may be running.
 * BullMQ has no cross-process cancel, so ingress nodes broadcast one and the
 * dispatcher holding the request aborts its upstream call.
 */
export async function listenForControl(
  subscriber: Redis,
  channel: string,
  cancel: (rid: string, reason: string) => void,
  logger: Logger,
): Promise<void> {
  subscriber.on('message', (ch: string, raw: string) => {
    if (ch !== channel) return;
    const message = decodeControl(raw);
    if (message?.type === 'cancel') cancel(message.rid, message.reason);
  });
  subscriber.on('error', (err: Error) => logger.warn({ err: err.message }, 'control subscriber error'));
  await subscriber.subscribe(channel);
}
