interface Reading {
  value: number;
  at: number;
  refreshing: Promise<void> | undefined;
  /** This ingress's adds minus its starts so far: what a read issued earlier cannot have seen. */
  ownChanges: number;
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
      const fresh: Reading = { value: 0, at: 0, refreshing: undefined, ownChanges: 0 };
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
    if (reading) {
      reading.value++;
      reading.ownChanges++;
    }
  }

  /** One of this ingress's jobs for `model` left the queue (started, removed or expired). */
  left(model: string): void {
    const reading = this.readings.get(model);
    if (reading && reading.value > 0) {
      reading.value--;
      reading.ownChanges--;
    }
  }

  /**
   * Reads the depth; `reading.refreshing` holds the promise until it settles.
   * Jobs this ingress queued while the read was on its way are added back: a
   * burst's enqueues finishing after the read was sent are otherwise lost
   * until the next refresh, and the request after the burst is admitted past
   * the limit. (One whose enqueue Redis ran before the read counts twice until
   * then: the error errs towards a 429, never past MAX_QUEUED_PER_MODEL.)
   */
  private refresh(model: string, reading: Reading): Promise<void> {
    const changesBefore = reading.ownChanges;
    return this.read(model).then(
      (value) => {
        reading.value = Math.max(0, value + reading.ownChanges - changesBefore);
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
