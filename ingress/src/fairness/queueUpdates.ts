import type { ServerResponse } from 'node:http';

/** How often the position is read; a line goes out when it changed, and at least every LINE_EVERY_MS. */
const POLL_MS = 500;
const LINE_EVERY_MS = 1_000;

export interface QueueStanding {
  /** Jobs started before this one, plus one. */
  readonly position: number;
  readonly etaMs: number | undefined;
}

/**
 * Queue position updates for one waiting streaming request: the 200 and
 * event-stream head go out at once, then SSE comment lines
 * `: queue position=<n> eta_ms=<ms>` (every SSE client ignores comments) on
 * change and at least every second, the last one `position=0` when a
 * dispatcher starts the job, right before the engine's bytes. The price:
 * the status is sent before the engine answers, so an engine's error can only
 * be told inside the stream (docs/fair-queue.md).
 */
export class QueueUpdates {
  private timer: NodeJS.Timeout | undefined;
  private last: string | undefined;
  private lastAt = 0;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly standing: () => Promise<QueueStanding | undefined>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Sends the head: the client knows at once that it was admitted. */
  open(rid: string): void {
    // The gateway's own headers set so far (CORS) are merged in by writeHead.
    this.res.writeHead(200, ['content-type', 'text/event-stream', 'cache-control', 'no-cache', 'x-request-id', rid]);
    this.res.flushHeaders();
  }

  /** The job is in the queue: the updates start. */
  enqueued(): void {
    if (this.done) return;
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    void this.poll();
  }

  /** The job started: the last line, position 0. */
  started(): void {
    if (this.done) return;
    this.stop();
    this.res.write(': queue position=0 eta_ms=0\n\n');
  }

  stop(): void {
    this.done = true;
    clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    let now: QueueStanding | undefined;
    try {
      now = await this.standing();
    } catch (err) {
      this.onError(err);
      return;
    }
    // Taken meanwhile (or not yet in the queue): the next frame or poll says more.
    if (this.done || now === undefined) return;
    // -1: no recent drain rate to estimate from.
    const line = `: queue position=${now.position} eta_ms=${now.etaMs ?? -1}\n\n`;
    if (line === this.last && Date.now() - this.lastAt < LINE_EVERY_MS) return;
    this.last = line;
    this.lastAt = Date.now();
    this.res.write(line);
  }
}
