import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { request } from 'undici';
import { encodeFrame, endPayload, forEachFrame, FrameKind, jsonPayload, type Frame } from '@infergate/shared';
import { RequestRelay, type RelayOutcome } from './requestRelay.js';

/*
 * The relay on its own, over real HTTP: frames in, bytes out. Fed by hand
 * so lost or reordered frames can be staged exactly.
 */

let server: Server;
let base: string;
let onRequest: (res: ServerResponse) => void = () => undefined;

beforeAll(async () => {
  server = createServer((_req, res) => onRequest(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

function frame(kind: (typeof FrameKind)[keyof typeof FrameKind], seq: number, payload?: Buffer): Frame {
  let out: Frame | undefined;
  forEachFrame(encodeFrame(kind, 'r1', seq, payload), (f) => (out = f));
  return out!;
}

const SSE_HEAD = jsonPayload({ status: 200, headers: [['content-type', 'text/event-stream']], dispatcher: 'd1' });

/** The relay of the next request to the test server, with its settle outcome and the cancels it sent. */
function relayFor(stallMs = 60_000): Promise<{ relay: RequestRelay; settled: Promise<RelayOutcome>; cancels: string[] }> {
  const cancels: string[] = [];
  return new Promise((resolve) => {
    onRequest = (res) => {
      let settle!: (o: RelayOutcome) => void;
      const settled = new Promise<RelayOutcome>((r) => (settle = r));
      const relay = new RequestRelay(
        res,
        'r1',
        { enqueuedAt: Date.now(), deadline: Date.now() + 60_000, stallMs, preHeadStallMs: 60_000 },
        {
          dequeue: async () => false,
          cancel: (reason) => cancels.push(reason),
          started: () => undefined,
          retryAfterSeconds: async () => undefined,
          settled: settle,
        },
      );
      resolve({ relay, settled, cancels });
    };
  });
}

describe('request relay', () => {
  it('writes head, data in order and end as the response', async () => {
    const ready = relayFor();
    const response = request(base);
    const { relay, settled } = await ready;
    relay.onFrame(frame(FrameKind.head, 0, SSE_HEAD));
    relay.onFrame(frame(FrameKind.data, 1, Buffer.from('data: a\n\n')));
    relay.onFrame(frame(FrameKind.heartbeat, 2));
    relay.onFrame(frame(FrameKind.data, 3, Buffer.from('data: b\n\n')));
    relay.onFrame(frame(FrameKind.end, 4));
    const res = await response;
    expect(res.headers['x-request-id']).toBe('r1');
    expect(await res.body.text()).toBe('data: a\n\ndata: b\n\n');
    expect((await settled).status).toBe(200);
  });

  it('turns a sequence gap into an SSE error event and cancels the job, never a silent truncation', async () => {
    const ready = relayFor();
    const response = request(base);
    const { relay, settled, cancels } = await ready;
    relay.onFrame(frame(FrameKind.head, 0, SSE_HEAD));
    relay.onFrame(frame(FrameKind.data, 1, Buffer.from('data: a\n\n')));
    relay.onFrame(frame(FrameKind.data, 3, Buffer.from('data: c\n\n')));
    const body = await (await response).body.text();
    expect(body.startsWith('data: a\n\n')).toBe(true);
    expect(body).not.toContain('data: c');
    expect(body).toContain('"code":"relay_lost"');
    expect((await settled).error).toBe('relay_lost');
    expect(cancels).toEqual(['relay_lost']);
  });

  it('accepts a sequence that starts over before the head (another attempt at the job)', async () => {
    const ready = relayFor();
    const response = request(base);
    const { relay } = await ready;
    relay.onFrame(frame(FrameKind.heartbeat, 0));
    relay.onFrame(frame(FrameKind.heartbeat, 1));
    relay.onFrame(frame(FrameKind.head, 0, SSE_HEAD));
    relay.onFrame(frame(FrameKind.data, 1, Buffer.from('data: x\n\n')));
    relay.onFrame(frame(FrameKind.end, 2));
    expect(await (await response).body.text()).toBe('data: x\n\n');
  });

  it('fails a request whose frames stop after the head within the stall timeout', async () => {
    const ready = relayFor(300);
    const t0 = performance.now();
    const response = request(base);
    const { relay, cancels } = await ready;
    relay.onFrame(frame(FrameKind.head, 0, SSE_HEAD));
    relay.onFrame(frame(FrameKind.data, 1, Buffer.from('data: a\n\n')));
    const body = await (await response).body.text();
    expect(body).toContain('"code":"relay_lost"');
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(cancels).toEqual(['relay_lost']);
  });

  it('charges an answer that ends in an error with the usage its error frame carries', async () => {
    const ready = relayFor();
    const response = request(base);
    const { relay, settled } = await ready;
    const usage = { prompt_tokens: 0, cached_prompt_tokens: 0, completion_tokens: 1, estimated: true };
    relay.onFrame(frame(FrameKind.head, 0, SSE_HEAD));
    relay.onFrame(frame(FrameKind.data, 1, Buffer.from('data: a\n\n')));
    relay.onFrame(frame(FrameKind.error, 2, jsonPayload({ code: 'stream_interrupted', message: 'stopped', usage })));
    expect(await (await response).body.text()).toContain('"code":"stream_interrupted"');
    expect(await settled).toMatchObject({ error: 'stream_interrupted', usage });
  });

  it('waits for the last frame of an answer whose client left, for what it cost, and cancels it once', async () => {
    const ready = relayFor();
    const abort = new AbortController();
    const response = request(base, { signal: abort.signal });
    const { relay, settled, cancels } = await ready;
    relay.onFrame(frame(FrameKind.head, 0, SSE_HEAD));
    relay.onFrame(frame(FrameKind.data, 1, Buffer.from('data: a\n\n')));
    const res = await response;
    res.body.on('error', () => undefined);
    await new Promise<void>((resolve) =>
      res.body.once('data', () => {
        abort.abort();
        resolve();
      }),
    );
    await vi.waitFor(() => expect(cancels).toEqual(['client_disconnected']));
    let done = false;
    void settled.then(() => (done = true));
    relay.onFrame(frame(FrameKind.data, 2, Buffer.from('data: b\n\n')));
    await new Promise((r) => setImmediate(r));
    expect(done, 'still waiting for the stopped job').toBe(false);
    const usage = { prompt_tokens: 0, cached_prompt_tokens: 0, completion_tokens: 2, estimated: true };
    relay.onFrame(frame(FrameKind.end, 3, endPayload(usage)));
    expect(await settled).toMatchObject({ status: 499, error: 'cancelled', usage });
    expect(cancels).toEqual(['client_disconnected']);
  });
});
