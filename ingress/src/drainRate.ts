const WINDOW = 64;
const STALE_MS = 60_000;

/**
 * How fast each model's queue drains, as this ingress sees it: the rate of
 * the last 64 jobs that left the queue (started by an engine). It turns
 * "the queue is full" into a useful Retry-After.
 */
export class DrainRate {
  private readonly departures = new Map<string, number[]>();

  /** Records one job of `model` leaving the queue. */
  record(model: string, now = Date.now()): void {
    let times = this.departures.get(model);
    if (!times) this.departures.set(model, (times = []));
    times.push(now);
    if (times.length > WINDOW) times.shift();
  }

  /** Seconds until `depth` queued jobs would have drained; undefined without a recent rate. */
  secondsToDrain(model: string, depth: number, now = Date.now()): number | undefined {
    const times = this.departures.get(model);
    if (!times || times.length < 2 || now - times[times.length - 1]! > STALE_MS) return undefined;
    const perSecond = ((times.length - 1) * 1000) / Math.max(1, times[times.length - 1]! - times[0]!);
    return Math.max(1, Math.ceil(depth / perSecond));
  }
}
