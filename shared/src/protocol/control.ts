import { cancelReasonOf, type CancelReason } from './stopReason.js';

/*
 * Control messages, ingress → every dispatcher, on one broadcast channel.
 * They are rare (a client went away, an operator cancelled a job), so JSON is
 * fine here; the dispatcher holding the request acts, the others ignore it.
 */

export interface CancelMessage {
  readonly type: 'cancel';
  readonly rid: string;
  readonly reason: CancelReason;
}

export type ControlMessage = CancelMessage;

export function encodeControl(message: ControlMessage): string {
  return JSON.stringify(message);
}

export function decodeControl(raw: string): ControlMessage | undefined {
  try {
    const m = JSON.parse(raw) as Partial<CancelMessage>;
    if (m.type === 'cancel' && typeof m.rid === 'string') {
      return { type: 'cancel', rid: m.rid, reason: cancelReasonOf(m.reason) };
    }
  } catch {
    // A malformed control message is dropped: control traffic is advisory.
  }
  return undefined;
}
