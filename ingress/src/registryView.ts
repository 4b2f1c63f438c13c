import {
  gatewayError,
  KNOWN_MODEL_MEMORY_MS as MODEL_MEMORY_MS,
  readDispatchers,
  readModelsServed,
  type DispatcherState,
  type RedisClient,
  type RedisNames,
} from '@infergate/shared';
import type { IngressFailures } from './metrics.js';

export interface ModelPolicy {
  readonly defaultModel: string | undefined;
  readonly unknownModel: 'reject' | 'default';
}

/**
 * The ingress's picture of the fleet, refreshed in the background from the
 * dispatcher registry so that no request waits on a registry read.
 */
export class RegistryView {
  private dispatchers: DispatcherState[] = [];
  /** Model → when a dispatcher last served it; kept in memory so a Redis restart forgets nothing. */
  private readonly lastServed = new Map<string, number>();
  private known = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private lastRefresh = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
    private readonly settings: { readonly refreshMs: number; readonly heartbeatTtlMs: number },
    private readonly policy: ModelPolicy,
    private readonly failures: IngressFailures,
  ) {}

  /**
   * Dispatchers heard from within the heartbeat TTL, judged at the moment of
   * asking: a dead one drops out one TTL after its last heartbeat, not up to
   * a refresh interval later.
   */
  get live(): readonly DispatcherState[] {
    const oldest = Date.now() - this.settings.heartbeatTtlMs;
    return this.dispatchers.filter((d) => d.updatedAt > oldest);
  }

  get knownModels(): ReadonlySet<string> {
    return this.known;
  }

  get fresh(): boolean {
    return Date.now() - this.lastRefresh < this.settings.heartbeatTtlMs;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.settings.refreshMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const now = Date.now();
    try {
      const [records, models] = await Promise.all([
        readDispatchers(this.redis, this.names, this.settings.heartbeatTtlMs),
        readModelsServed(this.redis, this.names, MODEL_MEMORY_MS),
      ]);
      this.dispatchers = records.flatMap((r) => r.state ?? []);
      for (const [m, at] of models) this.remember(m, at);
      for (const d of this.dispatchers) for (const m of d.models) this.remember(m, d.updatedAt);
      for (const [m, at] of this.lastServed) if (now - at > MODEL_MEMORY_MS) this.lastServed.delete(m);
      this.known = new Set(this.lastServed.keys());
      this.lastRefresh = now;
    } catch (err) {
      // The last picture stays in use; `fresh` (and /readyz) turns false once it is a heartbeat TTL old.
      this.failures.report('registry_refresh', err, 'registry not refreshed; serving from the last picture');
    }
  }

  private remember(model: string, at: number): void {
    if ((this.lastServed.get(model) ?? 0) < at) this.lastServed.set(model, at);
  }

  /** The single model every request falls back to, if there is one. */
  get defaultModel(): string | undefined {
    if (this.policy.defaultModel !== undefined) return this.policy.defaultModel;
    return this.known.size === 1 ? [...this.known][0] : undefined;
  }

  /**
   * The queue a request goes to. Throws an OpenAI-style 404 for a model no
   * dispatcher has served, unless unknown names are routed to the default.
   */
  resolve(requested: string | undefined): string {
    if (requested === undefined || requested === '') {
      const fallback = this.defaultModel;
      if (fallback === undefined) throw gatewayError('model_required', undefined, { param: 'model' });
      return fallback;
    }
    if (this.known.has(requested)) return requested;
    const fallback = this.defaultModel;
    if (this.policy.unknownModel === 'default' && fallback !== undefined) return fallback;
    throw gatewayError('model_not_found', `The model '${requested}' does not exist.`, { param: 'model' });
  }
}
