import { errorCodeOf, type ErrorCode } from '../errors.js';

/*
 * Response frames travel from a dispatcher to the ingress that holds the
 * client, many requests multiplexed on one channel. The encoding is binary so
 * token chunks are relayed as bytes: no JSON and no string conversion per
 * chunk, and a UTF-8 character split across chunks stays intact.
 *
 *   byte 0      kind
 *   bytes 1-4   sequence number, uint32 BE, per request, from 0
 *   byte 5      request id length L (ASCII)
 *   6..6+L      request id
 *   rest        payload: head/end/error JSON, data bytes, nothing for heartbeats
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
}

const HEADER_BYTES = 6;
const EMPTY = Buffer.alloc(0);

export function encodeFrame(kind: FrameKind, rid: string, seq: number, payload: Buffer = EMPTY): Buffer {
  const ridLength = Buffer.byteLength(rid, 'latin1');
  if (ridLength > 255) throw new RangeError('request id longer than 255 bytes');
  const out = Buffer.allocUnsafe(HEADER_BYTES + ridLength + payload.length);
  out[0] = kind;
  out.writeUInt32BE(seq >>> 0, 1);
  out[5] = ridLength;
  out.write(rid, HEADER_BYTES, 'latin1');
  payload.copy(out, HEADER_BYTES + ridLength);
  return out;
}

/** Decodes a frame; the payload is a view into `buf`, not a copy. */
export function decodeFrame(buf: Buffer): Frame | undefined {
  if (buf.length < HEADER_BYTES) return undefined;
  const kind = buf[0] as FrameKind;
  if (kind < FrameKind.head || kind > FrameKind.heartbeat) return undefined;
  const ridLength = buf[5]!;
  if (buf.length < HEADER_BYTES + ridLength) return undefined;
  return {
    kind,
    seq: buf.readUInt32BE(1),
    rid: buf.toString('latin1', HEADER_BYTES, HEADER_BYTES + ridLength),
    payload: buf.subarray(HEADER_BYTES + ridLength),
  };
}

/** Reads only the request id, for routing a frame without decoding the rest. */
export function frameRequestId(buf: Buffer): string | undefined {
  if (buf.length < HEADER_BYTES || buf.length < HEADER_BYTES + buf[5]!) return undefined;
  return buf.toString('latin1', HEADER_BYTES, HEADER_BYTES + buf[5]!);
}

export function jsonPayload(value: HeadPayload | ErrorPayload): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function parseHead(payload: Buffer): HeadPayload {
  return JSON.parse(payload.toString('utf8')) as HeadPayload;
}

export function parseError(payload: Buffer): ErrorPayload {
  const raw = JSON.parse(payload.toString('utf8')) as { code?: string; message?: string };
  return { code: errorCodeOf(raw.code ?? 'internal'), message: raw.message ?? 'error' };
}
