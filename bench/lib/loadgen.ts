import { Pool } from 'undici';

/*
 * The benchmark's client: streams chat completions and times them. Times are
 * taken on arrival of body chunks; SSE events are counted by their
 * "data: " prefix so chunk coalescing along the way does not change counts.
 */

export interface StreamTiming {
  readonly ok: boolean;
  /** ms from sending the request to the first body byte. */
  readonly ttft: number;
  /** mean ms between events after the first. */
  readonly itl: number;
  /** ms from sending to the end of the body. */
  readonly total: number;
  readonly events: number;
}

const DATA = Buffer.from('data: ');

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

  constructor(
    readonly baseUrl: string,
    options: { tokens: number; connections?: number },
  ) {
    this.pool = new Pool(baseUrl, { connections: options.connections ?? 1024, pipelining: 1 });
    this.body = JSON.stringify({
      model: 'any',
      stream: true,
      max_tokens: options.tokens,
      messages: [{ role: 'user', content: 'benchmark' }],
    });
  }

  async stream(): Promise<StreamTiming> {
    const start = performance.now();
    let first = 0;
    let last = 0;
    let events = 0;
    let firstEventAt = 0;
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json' },
        body: this.body,
      });
      for await (const chunk of res.body) {
        const now = performance.now();
        if (first === 0) first = now;
        const n = countEvents(chunk as Buffer);
        if (n > 0 && firstEventAt === 0) firstEventAt = now;
        events += n;
        last = now;
      }
      const ok = res.statusCode === 200 && events > 0;
      return { ok, ttft: first - start, itl: events > 1 ? (last - firstEventAt) / (events - 1) : 0, total: last - start, events };
    } catch {
      return { ok: false, ttft: 0, itl: 0, total: performance.now() - start, events };
    }
  }

  /** `concurrency` clients, each starting its next stream when the last ends, for `durationMs`. */
  async closedLoop(concurrency: number, durationMs: number): Promise<StreamTiming[]> {
    const out: StreamTiming[] = [];
    const stopAt = performance.now() + durationMs;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < stopAt) out.push(await this.stream());
      }),
    );
    return out;
  }

  /** Poisson arrivals at `ratePerSecond` for `durationMs`, regardless of how fast answers come. */
  async openLoop(ratePerSecond: number, durationMs: number): Promise<StreamTiming[]> {
    const pending: Array<Promise<StreamTiming>> = [];
    const start = performance.now();
    let next = start;
    while (next - start < durationMs) {
      const wait = next - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(this.stream());
      next += -Math.log(1 - Math.random()) * (1000 / ratePerSecond);
    }
    return Promise.all(pending);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
