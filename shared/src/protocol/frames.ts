import { errorCodeOf, type ErrorCode } from '../errors.js';
import { usageIn, type TokenUsage } from '../usage/tokenUsage.js';

/*
 * Response frames travel from a dispatcher to the ingress that holds the
 * client, many requests multiplexed on one channel, several frames to one
 * Redis message when they are ready together. The encoding is binary so
 * token chunks are relayed as bytes: no JSON and no string conversion per
 * chunk, and a UTF-8 character split across chunks stays intact.
 *
 *   byte 0      kind
 *   bytes 1-4   sequence number, uint32 BE, per request, from 0
 *   byte 5      request id length L (ASCII)
 *   bytes 6-9   payload length P, uint32 BE
 *   10..10+L    request id
 *   then P      payload: head/end/error JSON, data bytes, nothing for heartbeats
 */

export const FrameKind = {
  head: 1,
  data: 2,
  end: 3,
  error: 4,
  heartbeat: 5,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface Frame {
  readonly kind: FrameKind;
  readonly seq: number;
  readonly rid: string;
  readonly payload: Buffer;
}

export interface HeadPayload {
  readonly status: number;
  /** Response headers as pairs, hop-by-hop headers already removed. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Id of the dispatcher serving the request. */
  readonly dispatcher: string;
}

export interface ErrorPayload {
  readonly code: ErrorCode;
  readonly message: string;
  /** The tokens of an answer that ends in this error after it started: what its client was sent. */
  readonly usage?: TokenUsage;
}

const HEADER_BYTES = 10;
const EMPTY = Buffer.alloc(0);

export function encodeFrame(kind: FrameKind, rid: string, seq: number, payload: Buffer = EMPTY): Buffer {
  const ridLength = Buffer.byteLength(rid, 'latin1');
  if (ridLength > 255) throw new RangeError('request id longer than 255 bytes');
  const out = Buffer.allocUnsafe(HEADER_BYTES + ridLength + payload.length);
  out[0] = kind;
  out.writeUInt32BE(seq >>> 0, 1);
  out[5] = ridLength;
  out.writeUInt32BE(payload.length, 6);
  out.write(rid, HEADER_BYTES, 'latin1');
  payload.copy(out, HEADER_BYTES + ridLength);
  return out;
}

/**
 * Calls `onFrame` for each frame of a message, in order. Payloads are views
 * into `message`, not copies. Returns false if the message is malformed;
 * frames before the damage have been delivered.
 */
export function forEachFrame(message: Buffer, onFrame: (frame: Frame) => void): boolean {
  let at = 0;
  while (at < message.length) {
    if (message.length - at < HEADER_BYTES) return false;
    const kind = message[at] as FrameKind;
    const ridLength = message[at + 5]!;
    const payloadLength = message.readUInt32BE(at + 6);
    const end = at + HEADER_BYTES + ridLength + payloadLength;
    if (kind < FrameKind.head || kind > FrameKind.heartbeat || end > message.length) return false;
    onFrame({
      kind,
      seq: message.readUInt32BE(at + 1),
      rid: message.toString('latin1', at + HEADER_BYTES, at + HEADER_BYTES + ridLength),
      payload: message.subarray(at + HEADER_BYTES + ridLength, end),
    });
    at = end;
  }
  return true;
}

/** Decodes a message holding exactly one frame. */
export function decodeFrame(message: Buffer): Frame | undefined {
  let frame: Frame | undefined;
  let count = 0;
  const ok = forEachFrame(message, (f) => {
    frame = f;
    count++;
  });
  return ok && count === 1 ? frame : undefined;
}

export function jsonPayload(value: HeadPayload | ErrorPayload): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function parseHead(payload: Buffer): HeadPayload {
  return JSON.parse(payload.toString('utf8')) as HeadPayload;
}

export function parseError(payload: Buffer): ErrorPayload {
  const raw = JSON.parse(payload.toString('utf8')) as { code?: string; message?: string };
  const usage = usageIn(raw);
  return { code: errorCodeOf(raw.code ?? 'internal'), message: raw.message ?? 'error', ...(usage === undefined ? {} : { usage }) };
}
