import type { ServerResponse } from 'node:http';
import {
  cancelReasonOf,
  FrameKind,
  gatewayError,
  isGatewayError,
  parseError,
  parseEndPayload,
  parseHead,
  type CancelReason,
  type ErrorCode,
  type Frame,
  type GatewayError,
  type TokenUsage,
} from '@infergate/shared';
import { sseErrorEvent, writeErrorResponse } from './errorResponse.js';
import type { QueueUpdates } from './fairness/queueUpdates.js';
import { CHUNK_GAP_SAMPLE, ChunkGaps } from './metricsChunkGaps.js';
import type { FrameSink } from './replyRouter.js';

export type RelayPhase = 'queued' | 'running' | 'streaming' | 'done';

/**
 * How long a relay whose client left mid-answer waits for the stopped job's
 * last frame, which carries its tokens so far. A dispatcher answers a cancel
 * within milliseconds (bench: cancel to free slot p99 < 20 ms; 0.8 s seen on
 * a machine at load 40); the key's concurrency lease is held until then, so
 * the bound only costs when the frame never comes (an older dispatcher).
 */
const ABANDONED_CHARGE_WAIT_MS = 3_000;

export interface RelayOutcome {
  readonly status: number;
  readonly error?: ErrorCode;
  /** ms from enqueue to the first frame of any kind (the job started). */
  readonly queueWaitMs?: number;
  /** ms from enqueue to the response head. */
  readonly headMs?: number;
  /** ms from enqueue to the first body bytes (the first token, for a stream). */
  readonly ttftMs?: number;
  readonly bytes: number;
  /** Body chunks (data frames) relayed. */
  readonly chunks: number;
  /** A sample of the gaps between consecutive chunks (see CHUNK_GAP_SAMPLE); absent when none was timed. */
  readonly chunkGaps?: ChunkGaps;
  /** The response was an event stream. */
  readonly stream: boolean;
  readonly dispatcher?: string;
  /** The answer's tokens as its dispatcher read them from the engine's bytes; absent when it could not. */
  readonly usage?: TokenUsage;
}

export interface RelayHooks {
  /** Takes the job out of the queue if nobody started it; false when it is running; rejects when Redis cannot say. */
  dequeue(): Promise<boolean>;
  /**
   * Stops the request's job, wherever it is: `phase` is the relay's when it
   * gave up (`queued`: nothing has started it yet, as far as the relay knows).
   */
  cancel(reason: CancelReason, phase: RelayPhase): void;
  /** The job left the queue: a dispatcher started it. */
  started(): void;
  /** Seconds a client should wait before retrying after a queue timeout; asked while the job still waits. */
  retryAfterSeconds(): Promise<number | undefined>;
  settled(outcome: RelayOutcome): void;
}

/**
 * Relays one request's frames to its client: the head becomes the status
 * line and headers, data frames the body bytes in sequence order, the end
 * frame the end of the response. Streaming and non-streaming responses are
 * the same thing here. Every wait is bounded: the queue-wait deadline before
 * the job starts, the stall timeout (no frame, not even a heartbeat) after.
 */
export class RequestRelay implements FrameSink {
  private phase: RelayPhase = 'queued';
  private nextSeq = 0;
  private bytes = 0;
  private sse = false;
  private queueTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private stallTimerAfterHead = false;
  private firstFrameAt: number | undefined;
  private headAt: number | undefined;
  private firstChunkAt: number | undefined;
  private gapStartedAt = 0;
  private chunks = 0;
  private chunkGaps: ChunkGaps | undefined;
  private dispatcher: string | undefined;
  private status = 0;
  /** An engine error answer after an early head: its body, sent as one SSE data event at its end. */
  private errorBody: Buffer[] | undefined;
  /** The client left a started answer: the relay waits (bounded) for its last frame, which says what it cost. */
  private clientGone = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly rid: string,
    private readonly settings: {
      readonly enqueuedAt: number;
      readonly deadline: number;
      /** Longest silence once the response has started. */
      readonly stallMs: number;
      /**
       * Longest silence before it has: a dispatcher that died before answering
       * leaves its job locked until stalled-job recovery hands it to another.
       */
      readonly preHeadStallMs: number;
    },
    private readonly hooks: RelayHooks,
    /** Queue position updates: the head went out already, an event stream (see QueueUpdates). */
    private readonly updates?: QueueUpdates,
  ) {
    if (updates) this.sse = true;
    res.on('close', () => {
      if (this.phase === 'done' || this.clientGone) return;
      this.hooks.cancel('client_disconnected', this.phase);
      if (this.phase !== 'streaming') {
        this.settle(499, 'cancelled');
        return;
      }
      // The stopped dispatcher ends the job with the tokens sent so far; a key must not be able to dodge
      // its token limits by leaving just before the end. Without that frame (an older dispatcher, a lost
      // publish), the request settles uncharged, as it did before.
      this.clientGone = true;
      clearTimeout(this.stallTimer);
      this.stallTimer = setTimeout(() => this.settle(499, 'cancelled'), ABANDONED_CHARGE_WAIT_MS);
    });
    this.queueTimer = setTimeout(() => void this.queueDeadlinePassed(), Math.max(0, settings.deadline - Date.now()));
  }

  /** The job is in its queue (queue position updates can start). */
  enqueued(): void {
    this.updates?.enqueued();
  }

  get currentPhase(): RelayPhase {
    return this.phase;
  }

  onFrame(frame: Frame): void {
    if (this.phase === 'done') return;
    if (frame.seq !== this.nextSeq) {
      // Before the head nothing reached the client, so a sequence starting
      // over is another attempt at the job (failover, stalled-job recovery).
      if (frame.seq === 0 && this.headAt === undefined) {
        this.nextSeq = 0;
      } else {
        this.abandon(gatewayError('relay_lost', `Frames were lost in transit (expected ${this.nextSeq}, got ${frame.seq}).`));
        return;
      }
    }
    this.nextSeq++;
    if (this.clientGone) {
      if (frame.kind === FrameKind.end) this.settle(499, 'cancelled', parseEndPayload(frame.payload));
      else if (frame.kind === FrameKind.error) this.settle(499, 'cancelled', parseError(frame.payload).usage);
      return;
    }
    if (this.phase === 'queued') {
      this.phase = 'running';
      this.firstFrameAt = Date.now();
      this.updates?.started();
      this.hooks.started();
    }
    this.armStallTimer();
    switch (frame.kind) {
      case FrameKind.head:
        this.writeHead(frame.payload);
        break;
      case FrameKind.data:
        this.bytes += frame.payload.length;
        this.countChunk();
        if (this.errorBody) this.errorBody.push(frame.payload);
        else this.res.write(frame.payload);
        break;
      case FrameKind.end:
        // The engine's error body is its JSON error object: as an SSE data event, the form OpenAI clients raise.
        this.res.end(this.errorBody ? `data: ${Buffer.concat(this.errorBody).toString('utf8')}\n\n` : undefined);
        this.settle(this.status, undefined, parseEndPayload(frame.payload));
        break;
      case FrameKind.error: {
        const e = parseError(frame.payload);
        this.fail(gatewayError(e.code, e.message), e.usage);
        break;
      }
      case FrameKind.heartbeat:
        break;
    }
  }

  abandon(err: GatewayError): void {
    if (this.phase === 'done' || this.clientGone) return;
    this.fail(err);
    this.hooks.cancel(cancelReasonOf(err.code), this.phase);
  }

  /** Ends the request with a gateway error, in whatever form the client can still receive; `usage`: what it was sent. */
  fail(err: GatewayError, usage?: TokenUsage): void {
    if (this.phase === 'done' || this.clientGone) return;
    if (!this.res.headersSent) {
      writeErrorResponse(this.res, err, this.rid);
    } else if (this.sse) {
      this.res.end(sseErrorEvent(err));
    } else {
      // A JSON body cut short cannot carry an error; a reset tells the client
      // the response is incomplete instead of letting it parse half a body.
      this.res.destroy();
    }
    this.settle(this.res.headersSent && this.status !== 0 ? this.status : err.status, err.code, usage);
  }

  private writeHead(payload: Buffer): void {
    const head = parseHead(payload);
    this.phase = 'streaming';
    this.headAt = Date.now();
    this.dispatcher = head.dispatcher;
    this.status = head.status;
    if (this.updates) {
      if (head.status >= 400) this.errorBody = [];
      return;
    }
    const flat: string[] = [];
    // The gateway's own Vary (CORS: Origin) is set on the response already; an engine's Vary adds to it.
    const ownVary = this.res.getHeader('vary');
    for (const [name, value] of head.headers) {
      flat.push(name, name === 'vary' && ownVary !== undefined ? `${String(ownVary)}, ${value}` : value);
      if (name === 'content-type' && value.startsWith('text/event-stream')) this.sse = true;
    }
    flat.push('x-request-id', this.rid);
    this.res.writeHead(head.status, flat);
    // A client waiting on a long prefill should see the response start, but
    // a head that came with its first bytes (the usual case: frames ready
    // together travel in one message) leaves with them in one write: sent
    // alone, it costs the client a wake-up before the first token.
    queueMicrotask(this.flushLoneHead);
  }

  /** Sends the head now unless body bytes (which carried it) or the end came in the same message. */
  private readonly flushLoneHead = (): void => {
    if (this.chunks === 0 && this.phase !== 'done') this.res.flushHeaders();
  };

  private async queueDeadlinePassed(): Promise<void> {
    if (this.phase !== 'queued') return;
    // Asked before the removal: the answer depends on where the job stood.
    const retryAfterAsked = this.hooks.retryAfterSeconds().catch(() => undefined);
    let removed: boolean;
    try {
      removed = await this.hooks.dequeue();
    } catch (err) {
      // Redis cannot say whether the job started: the client hears so now
      // rather than waiting out the stall timeout, and the cancel stops a
      // dispatcher that did take it.
      this.abandon(isGatewayError(err) ? err : gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err }));
      return;
    }
    if (removed) {
      const retryAfter = await retryAfterAsked;
      this.fail(gatewayError('queue_timeout', undefined, retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }));
    } else if (this.phase === 'queued') {
      // A dispatcher took the job just now; from here on its heartbeats count.
      this.armStallTimer();
    }
  }

  /**
   * Metrics bookkeeping on the per-chunk path, with no allocation. A clock
   * read costs more than everything else here, so only one gap in
   * CHUNK_GAP_SAMPLE is timed: the one after chunk 1, 1 + CHUNK_GAP_SAMPLE, …
   * (counting from 0).
   */
  private countChunk(): void {
    const n = this.chunks++;
    if (n === 0) this.firstChunkAt = Date.now();
    const phase = n % CHUNK_GAP_SAMPLE;
    if (phase === 1) this.gapStartedAt = performance.now();
    else if (phase === 2) (this.chunkGaps ??= new ChunkGaps()).observe((performance.now() - this.gapStartedAt) / 1000);
  }

  /** Restarts the stall countdown; refreshing one timer costs less than a new one per frame. */
  private armStallTimer(): void {
    const started = this.headAt !== undefined;
    if (this.stallTimer && this.stallTimerAfterHead === started) {
      this.stallTimer.refresh();
      return;
    }
    clearTimeout(this.queueTimer);
    clearTimeout(this.stallTimer);
    this.stallTimerAfterHead = started;
    this.stallTimer = setTimeout(
      () => this.abandon(gatewayError('relay_lost', 'The dispatcher serving this request stopped responding.')),
      started ? this.settings.stallMs : this.settings.preHeadStallMs,
    );
  }

  private settle(status: number, error?: ErrorCode, usage?: TokenUsage): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.updates?.stop();
    clearTimeout(this.queueTimer);
    clearTimeout(this.stallTimer);
    const { enqueuedAt } = this.settings;
    this.hooks.settled({
      status,
      ...(error === undefined ? {} : { error }),
      ...(this.firstFrameAt === undefined ? {} : { queueWaitMs: this.firstFrameAt - enqueuedAt }),
      ...(this.headAt === undefined ? {} : { headMs: this.headAt - enqueuedAt }),
      ...(this.firstChunkAt === undefined ? {} : { ttftMs: this.firstChunkAt - enqueuedAt }),
      bytes: this.bytes,
      chunks: this.chunks,
      ...(this.chunkGaps === undefined ? {} : { chunkGaps: this.chunkGaps }),
      stream: this.sse,
      ...(this.dispatcher === undefined ? {} : { dispatcher: this.dispatcher }),
      ...(usage === undefined ? {} : { usage }),
    });
  }
}
