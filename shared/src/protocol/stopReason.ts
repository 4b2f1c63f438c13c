import type { ErrorCode } from '../errors.js';

/*
 * Why a request is stopped before its engine finished it, and what its
 * client is told then: one table, read by whichever dispatcher stops it.
 * A reason that names no error means nobody is left to tell (the client or
 * its reply path is gone), so no error frame is published for it.
 */
const stopReasons = {
  /** The client closed its connection. */
  client_disconnected: undefined,
  /** The ingress gave up on the relay (frames lost, dispatcher silent) and answered the client itself. */
  relay_lost: 'relay_lost',
  /** An ingress or this dispatcher is shutting down. */
  shutting_down: 'shutting_down',
  /** An operator cancelled the job (admin API, CLI). */
  operator_cancelled: 'operator_cancelled',
  /** A cancel whose sender named no reason this version knows. */
  cancelled: 'cancelled',
  /** The dispatcher's reply publish reached nobody or failed: no ingress can receive the response. */
  reply_unreachable: undefined,
} as const satisfies Record<string, ErrorCode | undefined>;

export type StopReason = keyof typeof stopReasons;

/** The reasons a cancel message may carry: every one but those only a dispatcher itself detects. */
export type CancelReason = Exclude<StopReason, 'reply_unreachable'>;

/** The error a stopped request's client gets, or undefined when nobody can receive one. */
export function clientErrorOf(reason: StopReason): ErrorCode | undefined {
  return stopReasons[reason];
}

/**
 * A cancel reason as it arrives over the wire. A reason this version does
 * not know (a newer or older sender) still stops the request, as a plain
 * `cancelled`.
 */
export function cancelReasonOf(raw: unknown): CancelReason {
  return typeof raw === 'string' && Object.hasOwn(stopReasons, raw) && raw !== 'reply_unreachable' ? (raw as CancelReason) : 'cancelled';
}
