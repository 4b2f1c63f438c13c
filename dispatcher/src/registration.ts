import type { DispatcherState, Logger, RedisClient, RedisNames } from '@infergate/shared';

/**
 * Keeps this dispatcher's entry in the registry alive: a key that expires
 * after the heartbeat TTL, plus index entries so readers find it without
 * scanning. A dispatcher that dies simply stops refreshing and disappears.
 */
export class Registration {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
    private readonly settings: { readonly intervalMs: number; readonly ttlSeconds: number },
    private readonly state: () => DispatcherState,
    private readonly logger: Logger,
  ) {}

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
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'registry heartbeat failed');
    }
  }

  async deregister(id: string): Promise<void> {
    clearInterval(this.timer);
    try {
      await this.redis.multi().del(this.names.dispatcherKey(id)).zrem(this.names.dispatcherIndex, id).exec();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'deregistration failed');
    }
  }
}
