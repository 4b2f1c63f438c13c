/**
 * How many more requests this dispatcher may start on its engine:
 * `free = total − in-flight here − outside load`, and zero while the engine is
 * not ready or under pressure. The in-flight count is exact and changes at
 * once; total, outside load, readiness and pressure come from engine polls.
 */
export interface GateState {
  readonly ready: boolean;
  readonly total: number;
  readonly inFlight: number;
  readonly outside: number;
  readonly free: number;
  readonly blockedBy: string | undefined;
}

export class CapacityGate {
  private ready = false;
  private total = 0;
  private outside = 0;
  private inFlight = 0;
  private blockedBy: string | undefined = 'engine not polled yet';
  private waiters: Array<() => void> = [];

  get free(): number {
    if (!this.ready || this.blockedBy !== undefined) return 0;
    return Math.max(0, this.total - this.inFlight - this.outside);
  }

  get state(): GateState {
    return {
      ready: this.ready,
      total: this.total,
      inFlight: this.inFlight,
      outside: this.outside,
      free: this.free,
      blockedBy: this.blockedBy,
    };
  }

  /** Takes a slot if one is free; never blocks, never over-commits. */
  tryAcquire(): boolean {
    if (this.free <= 0) return false;
    this.inFlight++;
    return true;
  }

  release(): void {
    if (this.inFlight > 0) this.inFlight--;
    this.wake();
  }

  /** Resolves as soon as at least one slot is free (or when `signal` aborts). */
  whenFree(signal?: AbortSignal): Promise<void> {
    if (this.free > 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Applies an engine poll; `outside` is load the engine carries that is not ours. */
  update(reading: { ready: boolean; total: number; outside: number; blockedBy: string | undefined }): void {
    this.ready = reading.ready;
    this.total = reading.total;
    this.outside = Math.max(0, reading.outside);
    this.blockedBy = reading.ready ? reading.blockedBy : (reading.blockedBy ?? 'engine not ready');
    this.wake();
  }

  private wake(): void {
    if (this.free <= 0 || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
