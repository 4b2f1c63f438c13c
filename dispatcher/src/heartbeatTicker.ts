import type { ReplyPublisher } from './replyPublisher.js';

/**
 * One ticker for every open response: a quiet request (long prefill, slow
 * engine) still proves to its ingress that this dispatcher is alive.
 */
export class HeartbeatTicker {
  private readonly publishers = new Set<ReplyPublisher>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly intervalMs: number) {
    this.timer = setInterval(() => this.tick(), intervalMs);
  }

  watch(publisher: ReplyPublisher): void {
    this.publishers.add(publisher);
  }

  unwatch(publisher: ReplyPublisher): void {
    this.publishers.delete(publisher);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    for (const p of this.publishers) if (p.quietFor >= this.intervalMs) p.heartbeat();
  }
}
