import { ErrorEpisode, type DispatcherState, type InternalFailures, type Logger, type RedisClient, type RedisNames } from '@infergate/shared';
import type { DispatcherOperation } from './metrics.js';

/**
 * Keeps this dispatcher's entry in the registry alive: a key that expires
 * after the heartbeat TTL, plus index entries so readers find it without
 * scanning. A dispatcher that dies simply stops refreshing and disappears.
 */
export class Registration {
  private timer: NodeJS.Timeout | undefined;
  /** Beats fail every interval while Redis is away; after the TTL the ingresses stop sending this dispatcher's models work. */
  private readonly beatErrors: ErrorEpisode;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
    private readonly settings: { readonly intervalMs: number; readonly ttlSeconds: number },
    private readonly state: () => DispatcherState,
    logger: Logger,
    private readonly failures: InternalFailures<DispatcherOperation>,
  ) {
    this.beatErrors = new ErrorEpisode(logger, 'registry heartbeat failed');
  }

  start(): Promise<void> {
    this.timer = setInterval(() => void this.beat(), this.settings.intervalMs);
    return this.beat();
  }

  async beat(): Promise<void> {
    const s = this.state();
    const now = Date.now();
    const multi = this.redis
      .multi()
      .set(this.names.dispatcherKey(s.id), JSON.stringify(s), 'EX', Math.ceil(this.settings.ttlSeconds))
      .zadd(this.names.dispatcherIndex, now, s.id);
    for (const model of s.models) multi.zadd(this.names.modelIndex, now, model);
    try {
      await multi.exec();
      this.beatErrors.recovered();
    } catch (err) {
      this.beatErrors.error(err);
      this.failures.count('registry_heartbeat');
    }
  }

  async deregister(id: string): Promise<void> {
    clearInterval(this.timer);
    try {
      await this.redis.multi().del(this.names.dispatcherKey(id)).zrem(this.names.dispatcherIndex, id).exec();
    } catch (err) {
      // The entry expires after the heartbeat TTL instead; until then ingresses may count this dispatcher.
      this.failures.report('deregistration', err, 'deregistration failed', { dispatcher: id });
    }
  }
}
