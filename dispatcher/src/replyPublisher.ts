import { encodeFrame, endPayload, FrameKind, jsonPayload, type ErrorCode, type HeadPayload, type TokenUsage } from '@infergate/shared';
import type { FrameChannel } from './frameChannel.js';

interface Pending {
  readonly kind: FrameKind;
  readonly payload: Buffer | undefined;
}

/**
 * Publishes one request's frames, in order, on its ingress's reply channel.
 *
 * Tokens are coalesced Nagle-style: a data frame goes out at once unless an
 * earlier data frame is still unacknowledged, in which case it waits and
 * leaves with everything that piled up behind it as one frame. No timer ever
 * delays a token, and a fast engine does not cost one Redis message per
 * token. Every other frame (head, end, error, heartbeat) waits for nothing
 * but the frames before it: it is pipelined on the same connection, which
 * keeps the order, so the first token does not wait for the head's round
 * trip nor the end for the last token's. A frame that comes while the
 * previous one still waits for the end of the event-loop turn joins its
 * message instead, unless both are data (which coalescing makes one frame).
 * A publish that reaches no subscriber means the ingress holding the client
 * is gone, and a failed publish that Redis is; the runner treats both as a
 * cancellation so the engine stops generating for nobody.
 */
export class ReplyPublisher {
  private seq = 0;
  /** Messages sent and not yet acknowledged. */
  private outstanding = 0;
  /** The latest message carrying data, until Redis acknowledges it. */
  private dataInFlight: Promise<number> | undefined;
  /** Frames waiting for `dataInFlight`, in order. */
  private queue: Pending[] = [];
  private idleWaiters: Array<() => void> = [];
  private lastSentAt = Date.now();
  private failure: Error | undefined;
  /** The message the latest frames travel in, and the kind of the last of them. */
  private last: Promise<number> | undefined;
  private lastKind: FrameKind | undefined;

  constructor(
    private readonly frames: FrameChannel,
    private readonly channel: string,
    private readonly rid: string,
    /** The ingress holding the client is gone, or Redis is: nobody can receive this response. */
    private readonly onUnreachable: () => void,
  ) {}

  /** Why Redis refused a publish of this response, if it did; nothing after that is sent. */
  get publishError(): Error | undefined {
    return this.failure;
  }

  /** Milliseconds since the last frame went out, for heartbeats. */
  get quietFor(): number {
    return Date.now() - this.lastSentAt;
  }

  head(head: HeadPayload): void {
    this.push({ kind: FrameKind.head, payload: jsonPayload(head) });
  }

  data(chunk: Buffer): void {
    if (chunk.length > 0) this.push({ kind: FrameKind.data, payload: chunk });
  }

  /** Ends the response; the answer's usage rides on the end frame, for the ingress to account. */
  end(usage?: TokenUsage): void {
    this.push({ kind: FrameKind.end, payload: usage === undefined ? undefined : endPayload(usage) });
  }

  /** Ends the response with an error; `usage`: the tokens an answer that had started was sent before it. */
  error(code: ErrorCode, message: string, usage?: TokenUsage): void {
    this.push({ kind: FrameKind.error, payload: jsonPayload({ code, message, usage }) });
  }

  heartbeat(): void {
    this.push({ kind: FrameKind.heartbeat, payload: undefined });
  }

  /** Resolves when every frame pushed so far has been published; rejects if Redis failed. */
  drained(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.outstanding === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.idleWaiters.push(() => (this.failure === undefined ? resolve() : reject(this.failure))),
    );
  }

  private push(item: Pending): void {
    if (this.failure !== undefined) return;
    if (this.canJoin(item)) {
      // The frame joins the message `send` already awaits (`this.last`), whose
      // failure that handler records; this promise is the same one.
      void this.publish(item);
      if (item.kind === FrameKind.data) this.dataInFlight = this.last;
    } else if (this.queue.length > 0 || (item.kind === FrameKind.data && this.dataInFlight !== undefined)) {
      this.queue.push(item);
    } else {
      this.send([item]);
    }
  }

  private canJoin(item: Pending): boolean {
    return (
      this.queue.length === 0 &&
      this.last !== undefined &&
      !(item.kind === FrameKind.data && this.lastKind === FrameKind.data) &&
      this.frames.unsent(this.channel) === this.last
    );
  }

  /** Queues one frame on the channel; resolves when the message it travels in is acknowledged. */
  private publish(item: Pending): Promise<number> {
    this.lastKind = item.kind;
    return this.frames.publish(this.channel, encodeFrame(item.kind, this.rid, this.seq++, item.payload));
  }

  private send(items: Pending[]): void {
    this.outstanding++;
    this.lastSentAt = Date.now();
    let message: Promise<number> | undefined;
    let carriesData = false;
    for (const item of coalesce(items)) {
      message = this.publish(item);
      carriesData ||= item.kind === FrameKind.data;
    }
    const sent = message!;
    this.last = sent;
    if (carriesData) this.dataInFlight = sent;
    sent.then(
      (receivers) => {
        if (receivers === 0) this.onUnreachable();
        this.acknowledged(sent);
      },
      (err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(String(err));
        this.queue = [];
        this.onUnreachable();
        this.acknowledged(sent);
      },
    );
  }

  private acknowledged(message: Promise<number>): void {
    this.outstanding--;
    if (message === this.dataInFlight) {
      this.dataInFlight = undefined;
      if (this.queue.length > 0 && this.failure === undefined) {
        const items = this.queue;
        this.queue = [];
        this.send(items);
        return;
      }
    }
    if (this.outstanding > 0 || this.queue.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** Joins runs of data frames into one frame; other frames keep their place. */
function coalesce(items: Pending[]): Pending[] {
  const out: Pending[] = [];
  let run: Buffer[] = [];
  const closeRun = () => {
    if (run.length === 1) out.push({ kind: FrameKind.data, payload: run[0] });
    else if (run.length > 1) out.push({ kind: FrameKind.data, payload: Buffer.concat(run) });
    run = [];
  };
  for (const item of items) {
    if (item.kind === FrameKind.data) run.push(item.payload!);
    else {
      closeRun();
      out.push(item);
    }
  }
  closeRun();
  return out;
}
