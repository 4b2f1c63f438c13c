interface Reading {
  value: number;
  at: number;
  refreshing: Promise<void> | undefined;
}

/**
 * Queue depth per model for admission, without a Redis round trip on every
 * request: a reading at most `maxAgeMs` old, refreshed in the background,
 * and adjusted at once for what this ingress itself adds and sees start.
 * Other ingress nodes' additions show up within one refresh, which bounds
 * how far a burst can overshoot the limit.
 */
export class QueueDepths {
  private readonly readings = new Map<string, Reading>();

  constructor(
    private readonly read: (model: string) => Promise<number>,
    private readonly maxAgeMs = 100,
  ) {}

  /**
   * The depth to admit against: a number at once when the model has a
   * reading, so a request never waits on (or shares its turn with) the
   * refresh; only a model's first request waits for the first reading.
   */
  current(model: string): number | Promise<number> {
    const reading = this.readings.get(model);
    if (!reading) {
      const fresh: Reading = { value: 0, at: 0, refreshing: undefined };
      this.readings.set(model, fresh);
      fresh.refreshing = this.refresh(model, fresh);
      return fresh.refreshing.then(() => fresh.value);
    }
    if (Date.now() - reading.at > this.maxAgeMs && !reading.refreshing) {
      // After the request's own enqueue has been written, not before it.
      reading.refreshing = new Promise((resolve) => setImmediate(resolve)).then(() => this.refresh(model, reading));
    }
    return reading.value;
  }

  /** This ingress queued one more job for `model`. */
  added(model: string): void {
    const reading = this.readings.get(model);
    if (reading) reading.value++;
  }

  /** One of this ingress's jobs for `model` left the queue (started, removed or expired). */
  left(model: string): void {
    const reading = this.readings.get(model);
    if (reading && reading.value > 0) reading.value--;
  }

  /** Reads the depth; `reading.refreshing` holds the promise until it settles. */
  private refresh(model: string, reading: Reading): Promise<void> {
    return this.read(model).then(
      (value) => {
        reading.value = value;
        reading.at = Date.now();
        reading.refreshing = undefined;
      },
      () => {
        // Redis is away; the enqueue that follows will say so to the client.
        reading.refreshing = undefined;
      },
    );
  }
}
