import { randomBytes } from 'node:crypto';
import type { EngineSnapshot } from '../engines/index.js';

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
  private lastQueries = 0;

  get current(): string {
    return `${this.base}.${this.restarts}`;
  }

  /**
   * Feeds the engine's latest poll (undefined: not polled yet). Ready after
   * not-ready starts a new epoch, and so does a drop of vLLM's cumulative
   * prefix-cache queries: the engine restarted between two polls.
   */
  observe(snapshot: EngineSnapshot | undefined): void {
    if (snapshot === undefined) return;
    const queries = snapshot.prefixCache?.queries;
    if ((snapshot.ready && this.wasReady === false) || (queries !== undefined && queries < this.lastQueries)) this.restarts++;
    this.wasReady = snapshot.ready;
    if (queries !== undefined) this.lastQueries = queries;
  }

  /** The epoch after taking in the engine's latest poll. */
  after(snapshot: EngineSnapshot | undefined): string {
    this.observe(snapshot);
    return this.current;
  }
}
