import type { Redis } from 'ioredis';
import { forEachFrame, gatewayError, type Frame, type GatewayError, type Logger } from '@infergate/shared';

/** Whatever consumes one request's frames. */
export interface FrameSink {
  onFrame(frame: Frame): void;
  /** Ends the request with `err` and stops its job: frames may be missing, or the ingress is stopping. */
  abandon(err: GatewayError): void;
}

/**
 * The ingress's single reply channel: one subscriber connection for every
 * request this process holds, subscribed once at start-up, so no request
 * pays a SUBSCRIBE round trip and none can miss its first frame. A message
 * carries one or more frames, each naming its request.
 */
export class ReplyRouter {
  private readonly sinks = new Map<string, FrameSink>();
  private subscribed = false;

  constructor(
    private readonly subscriber: Redis,
    readonly channel: string,
    private readonly logger: Logger,
  ) {
    subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
      if (!forEachFrame(message, this.route)) logger.warn('malformed reply message dropped');
    });
    // Pub/sub keeps nothing for a disconnected subscriber: whatever was
    // published during the gap is gone, so every open response is suspect.
    subscriber.on('close', () => this.loseAll('reply subscriber disconnected'));
    subscriber.on('error', (err: Error) => logger.debug({ err: err.message }, 'reply subscriber error'));
    subscriber.on('ready', () => {
      if (this.subscribed) logger.info('reply subscriber reconnected');
    });
  }

  private readonly route = (frame: Frame): void => {
    this.sinks.get(frame.rid)?.onFrame(frame);
  };

  get open(): number {
    return this.sinks.size;
  }

  get ready(): boolean {
    return this.subscribed && this.subscriber.status === 'ready';
  }

  async start(): Promise<void> {
    await this.subscriber.subscribe(this.channel);
    this.subscribed = true;
  }

  add(rid: string, sink: FrameSink): void {
    this.sinks.set(rid, sink);
  }

  remove(rid: string): void {
    this.sinks.delete(rid);
  }

  async stop(): Promise<void> {
    this.subscribed = false;
    this.subscriber.disconnect();
  }

  failAll(err: GatewayError): void {
    for (const sink of [...this.sinks.values()]) sink.abandon(err);
  }

  private loseAll(reason: string): void {
    if (this.sinks.size === 0) return;
    this.logger.warn({ open: this.sinks.size, reason }, 'failing open responses: reply path lost');
    this.failAll(gatewayError('relay_lost', `The reply path was interrupted (${reason}).`));
  }
}
