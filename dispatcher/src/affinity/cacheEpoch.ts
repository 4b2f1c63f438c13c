import { randomBytes } from 'node:crypto';

/**
 * The epoch of the engine's prompt cache as this dispatcher knows it. Index
 * entries carry the epoch they were written in; a new epoch (this process
 * started, or the engine was seen down and back, which empties its slots and
 * its RAM cache) voids all older entries at once, since readers compare
 * with the epoch in the registry. llama.cpp reports no cache events, so a
 * restart seen between two polls is all there is to go on.
 */
export class CacheEpoch {
  private readonly base = randomBytes(4).toString('hex');
  private restarts = 0;
  private wasReady: boolean | undefined;

  get current(): string {
    return `${this.base}.${this.restarts}`;
  }

  /** Feeds one engine poll's readiness (undefined: not polled yet); ready after not-ready starts a new epoch. */
  observe(ready: boolean | undefined): void {
    if (ready === undefined) return;
    if (ready && this.wasReady === false) this.restarts++;
    this.wasReady = ready;
  }

  /** The epoch after taking in the engine's latest readiness. */
  after(ready: boolean | undefined): string {
    this.observe(ready);
    return this.current;
  }
}
