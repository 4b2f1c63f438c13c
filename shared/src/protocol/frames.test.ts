import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, forEachFrame, FrameKind, jsonPayload, parseHead, type Frame } from './frames.js';

describe('frame codec', () => {
  it('round-trips arbitrary bytes for every kind', () => {
    for (const kind of Object.values(FrameKind)) {
      for (let n = 0; n < 50; n++) {
        const payload = Buffer.from(Array.from({ length: n * 13 }, (_, i) => (i * 7919 + n) & 0xff));
        const rid = `req-${n}-${kind}`;
        const frame = decodeFrame(encodeFrame(kind, rid, n * 1000003, payload));
        expect(frame).toBeDefined();
        expect(frame!.kind).toBe(kind);
        expect(frame!.rid).toBe(rid);
        expect(frame!.seq).toBe((n * 1000003) >>> 0);
        expect(Buffer.compare(frame!.payload, payload)).toBe(0);
      }
    }
  });

  it('keeps a multi-byte UTF-8 character split across two data frames intact', () => {
    const text = 'héllo 🌍 wörld — ✓';
    const bytes = Buffer.from(text, 'utf8');
    for (let cut = 1; cut < bytes.length; cut++) {
      const a = decodeFrame(encodeFrame(FrameKind.data, 'r', 0, bytes.subarray(0, cut)))!;
      const b = decodeFrame(encodeFrame(FrameKind.data, 'r', 1, bytes.subarray(cut)))!;
      expect(Buffer.concat([a.payload, b.payload]).toString('utf8')).toBe(text);
    }
  });

  it('rejects truncated or unknown frames instead of misreading them', () => {
    expect(decodeFrame(Buffer.from([1, 0, 0]))).toBeUndefined();
    expect(decodeFrame(Buffer.from([9, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
    const full = encodeFrame(FrameKind.data, 'abcdef', 1, Buffer.from('xyz'));
    for (let cut = 1; cut < full.length; cut++) expect(decodeFrame(full.subarray(0, cut))).toBeUndefined();
  });

  it('carries several frames of several requests in one message, in order', () => {
    const parts = [
      encodeFrame(FrameKind.head, 'a', 0, jsonPayload({ status: 200, headers: [], dispatcher: 'd' })),
      encodeFrame(FrameKind.data, 'b', 7, Buffer.from('bee')),
      encodeFrame(FrameKind.data, 'a', 1, Buffer.from('')),
      encodeFrame(FrameKind.end, 'b', 8),
    ];
    const seen: Frame[] = [];
    expect(forEachFrame(Buffer.concat(parts), (f) => seen.push(f))).toBe(true);
    expect(seen.map((f) => [f.rid, f.kind, f.seq])).toEqual([
      ['a', FrameKind.head, 0],
      ['b', FrameKind.data, 7],
      ['a', FrameKind.data, 1],
      ['b', FrameKind.end, 8],
    ]);
    expect(seen[1]!.payload.toString()).toBe('bee');
  });

  it('carries head metadata as JSON', () => {
    const head = { status: 200, headers: [['content-type', 'text/event-stream']] as const, dispatcher: 'd1' };
    const frame = decodeFrame(encodeFrame(FrameKind.head, 'r', 0, jsonPayload(head)))!;
    expect(parseHead(frame.payload)).toEqual({ ...head, headers: [['content-type', 'text/event-stream']] });
  });
});
