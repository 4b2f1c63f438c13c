import { setImmediate as afterPendingReads } from 'node:timers/promises';
import { indexHeads, parseHeadsAnnouncement, type AffinityKeys, type RedisClient, type RedisNames, type Subscriber } from '@infergate/shared';
import type { IngressFailures } from '../metrics.js';

/** Life given to a head beyond its entry's: clocks differ, and a head kept too long costs one lookup, one dropped too early a cache miss. */
const EXPIRY_MARGIN_MS = 5_000;
/** After a failed load, how long the model's requests go on being looked up before the next try. */
const RETRY_MS = 5_000;
/** Expired heads dropped per check at most, so a check after a quiet stretch does not hold up its request. */
const SWEEP_PER_CHECK = 256;

/** One model's copy of its heads set: head → expiry (ms), in about the order they expire. */
class ModelHeads {
  trusted = false;
  retryAt = 0;
  readonly expiry = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Keeps the later of two expiries; moves a renewed head to the end, where the latest expiries are. */
  add(head: string, expiresAt: number): void {
    const known = this.expiry.get(head);
    if (known !== undefined && known >= expiresAt) return;
    this.expiry.delete(head);
    this.expiry.set(head, expiresAt);
    // Over the bound, the head that expires soonest goes: its request may miss its engine once, and
    // the engine that serves it then announces it anew.
    if (this.expiry.size > this.max) this.expiry.delete(this.expiry.keys().next().value!);
  }

  holdsAny(heads: readonly string[], now: number): boolean {
    let swept = 0;
    for (const [head, expiresAt] of this.expiry) {
      if (expiresAt > now || swept++ >= SWEEP_PER_CHECK) break;
      this.expiry.delete(head);
    }
    return heads.some((h) => (this.expiry.get(h) ?? 0) > now);
  }
}

/**
 * This ingress's copy of which heads (first prefix block, session) the
 * shared index may hold, so that a request whose heads no engine served
 * skips the lookup: its round trip is most of what affinity costs a request
 * with nothing to reuse. A model's copy is loaded from its heads set once
 * its announcements channel is subscribed, and kept current by the
 * announcements; it is trusted only while nothing can have been missed
 * since that subscription. Until then, and again after the subscriber lost
 * its connection, every request is looked up as without the copy.
 */
export class KnownHeads {
  private readonly models = new Map<string, ModelHeads>();

  constructor(
    private readonly subscriber: Subscriber,
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
    private readonly maxPerModel: number,
    private readonly failures: IngressFailures,
  ) {
    subscriber.onLoss(() => this.models.clear());
  }

  /**
   * True when no engine can hold the request's prefix or session; false when
   * one may, or this copy cannot tell yet. The announcement of a turn's
   * heads reaches this process before the next turn can (Redis sends it
   * before the turn's end frame), but both may wait in the same poll of the
   * event loop, the request's read first: "absent" is said only after the
   * reads pending with it have run.
   */
  async absent(model: string, keys: AffinityKeys): Promise<boolean> {
    if (!this.absentNow(model, keys, Date.now())) return false;
    await afterPendingReads();
    return this.absentNow(model, keys, Date.now());
  }

  /** The copy's verdict as it stands; `now` lets tests look past an expiry. */
  absentNow(model: string, keys: AffinityKeys, now: number): boolean {
    const heads = this.models.get(model);
    if (heads === undefined) {
      this.load(model);
      return false;
    }
    if (!heads.trusted) {
      if (heads.retryAt !== 0 && now >= heads.retryAt) this.load(model);
      return false;
    }
    return !heads.holdsAny(indexHeads(keys.chain.hashes[0], keys.session), now);
  }

  /** Heads in each trusted copy, by model: a model absent here has every request looked up. */
  sizes(): Map<string, number> {
    return new Map([...this.models].filter(([, heads]) => heads.trusted).map(([model, heads]) => [model, heads.expiry.size]));
  }

  close(): void {
    this.subscriber.close();
  }

  private load(model: string): void {
    const heads = new ModelHeads(this.maxPerModel);
    this.models.set(model, heads);
    // The channel first, then the set: a head recorded after the subscription is announced to this
    // copy, one recorded before it is in the set. A loss on the way clears `models`, which voids this load.
    void this.subscriber
      .subscribe(this.names.affinityAnnouncements(model), (message) => this.heard(model, message))
      .then(() => this.redis.zrange(this.names.affinityHeads(model), '0', '-1', 'WITHSCORES'))
      .then(
        (entries) => {
          if (this.models.get(model) !== heads) return;
          for (let i = 0; i < entries.length; i += 2) heads.add(entries[i]!, Number(entries[i + 1]) + EXPIRY_MARGIN_MS);
          heads.trusted = true;
        },
        (err: unknown) => {
          // Without the copy the model's requests are all looked up, as with none: only the saving is lost.
          this.failures.report('affinity_heads_load', err, 'could not load the affinity heads', { model });
          if (this.models.get(model) === heads) heads.retryAt = Date.now() + RETRY_MS;
        },
      );
  }

  private heard(model: string, message: Buffer): void {
    const announcement = parseHeadsAnnouncement(message);
    const heads = this.models.get(model);
    if (announcement === undefined || heads === undefined) return;
    const expiresAt = Date.now() + announcement.ttlSeconds * 1000 + EXPIRY_MARGIN_MS;
    for (const head of announcement.heads) heads.add(head, expiresAt);
  }
}
