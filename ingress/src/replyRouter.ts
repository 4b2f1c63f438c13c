import { forEachFrame, gatewayError, type Frame, type GatewayError, type Logger, type Subscriber } from '@infergate/shared';

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

  constructor(
    private readonly subscriber: Subscriber,
    readonly channel: string,
    private readonly logger: Logger,
  ) {
    // Pub/sub keeps nothing for a disconnected subscriber: whatever was
    // published during the gap is gone, so every open response is suspect.
    subscriber.onLoss((reason) => this.loseAll(reason));
  }

  private readonly route = (frame: Frame): void => {
    this.sinks.get(frame.rid)?.onFrame(frame);
  };

  get open(): number {
    return this.sinks.size;
  }

  get ready(): boolean {
    return this.subscriber.ready;
  }

  async start(): Promise<void> {
    await this.subscriber.subscribe(this.channel, (message) => {
      if (!forEachFrame(message, this.route)) this.logger.warn('malformed reply message dropped');
    });
  }

  add(rid: string, sink: FrameSink): void {
    this.sinks.set(rid, sink);
  }

  remove(rid: string): void {
    this.sinks.delete(rid);
  }

  async stop(): Promise<void> {
    this.subscriber.close();
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
