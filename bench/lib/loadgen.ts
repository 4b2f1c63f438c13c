import { Pool } from 'undici';

/*
 * The benchmark's client: streams chat completions and times them. Times are
 * taken on arrival of body chunks; SSE events are counted by their
 * "data: " prefix so chunk coalescing along the way does not change counts.
 */

export interface StreamTiming {
  /** 200 and the stream's own `[DONE]` at the end: an SSE error event or a cut body is not ok. */
  readonly ok: boolean;
  /** performance.now() when the request was sent, to place it against events like a kill. */
  readonly startedAt: number;
  /** ms from sending the request to the first body byte. */
  readonly ttft: number;
  /** mean ms between events after the first. */
  readonly itl: number;
  /** ms from sending to the end of the body. */
  readonly total: number;
  readonly events: number;
}

export interface StreamOptions {
  /** Aborting it is a client going away; the stream then ends not ok. */
  readonly signal?: AbortSignal;
  readonly onFirstByte?: () => void;
}

const DATA = Buffer.from('data: ');
const DONE = Buffer.from('data: [DONE]\n\n');

function countEvents(chunk: Buffer): number {
  let n = 0;
  let at = chunk.indexOf(DATA);
  while (at !== -1) {
    n++;
    at = chunk.indexOf(DATA, at + DATA.length);
  }
  return n;
}

export class LoadClient {
  private readonly pool: Pool;
  private readonly body: string;
  private readonly headers: Record<string, string>;
  /** SSE events received by all streams so far, for rates over a window rather than per request. */
  eventsReceived = 0;
  /** Streams that have received their first byte so far. */
  streamsFlowing = 0;

  constructor(
    readonly baseUrl: string,
    options: { tokens: number; connections?: number; system?: string; apiKey?: string },
  ) {
    this.headers = { 'content-type': 'application/json', ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) };
    this.pool = new Pool(baseUrl, { connections: options.connections ?? 1024, pipelining: 1 });
    this.body = JSON.stringify({
      model: 'any',
      stream: true,
      max_tokens: options.tokens,
      messages: [...(options.system ? [{ role: 'system', content: options.system }] : []), { role: 'user', content: 'benchmark' }],
    });
  }

  async stream(options: StreamOptions = {}): Promise<StreamTiming> {
    const startedAt = performance.now();
    let first = 0;
    let last = 0;
    let events = 0;
    let firstEventAt = 0;
    // The end of the body so far, long enough to hold the terminator even when it arrives split.
    let tail: Buffer = Buffer.alloc(0);
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: this.headers,
        body: this.body,
        signal: options.signal,
      });
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const now = performance.now();
        if (first === 0) {
          first = now;
          this.streamsFlowing++;
          options.onFirstByte?.();
        }
        const n = countEvents(chunk);
        if (n > 0 && firstEventAt === 0) firstEventAt = now;
        events += n;
        this.eventsReceived += n;
        last = now;
        tail = chunk.length >= DONE.length ? chunk : Buffer.concat([tail, chunk]).subarray(-DONE.length);
      }
      const ok = res.statusCode === 200 && tail.subarray(-DONE.length).equals(DONE);
      return { ok, startedAt, ttft: first - startedAt, itl: events > 1 ? (last - firstEventAt) / (events - 1) : 0, total: last - startedAt, events };
    } catch {
      return { ok: false, startedAt, ttft: first === 0 ? 0 : first - startedAt, itl: 0, total: performance.now() - startedAt, events };
    }
  }

  /**
   * `concurrency` clients, each starting its next stream when the last ends,
   * for `durationMs` or until `signal` aborts, which also cuts the streams
   * still running.
   */
  async closedLoop(concurrency: number, durationMs: number, signal?: AbortSignal): Promise<StreamTiming[]> {
    const out: StreamTiming[] = [];
    const stopAt = performance.now() + durationMs;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < stopAt && !signal?.aborted) out.push(await this.stream(signal ? { signal } : {}));
      }),
    );
    return out;
  }

  /**
   * Poisson arrivals at `ratePerSecond` for `durationMs`, regardless of how
   * fast answers come; a seeded `random` replays the same arrivals.
   */
  async openLoop(ratePerSecond: number, durationMs: number, random: () => number = Math.random): Promise<StreamTiming[]> {
    const pending: Array<Promise<StreamTiming>> = [];
    const start = performance.now();
    let next = start;
    while (next - start < durationMs) {
      const wait = next - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(this.stream());
      next += -Math.log(1 - random()) * (1000 / ratePerSecond);
    }
    return Promise.all(pending);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
