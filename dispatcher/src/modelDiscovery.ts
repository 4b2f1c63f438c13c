import { ErrorEpisode, type InternalFailures, type Logger, type RedisNames } from '@infergate/shared';
import type { CapacityGate } from './capacityGate.js';
import type { EngineAdapter } from './engines/index.js';
import type { DispatcherOperation } from './metrics.js';
import { ModelConsumer, type ConsumerSettings, type JobHandler } from './modelConsumer.js';

const MODEL_REFRESH_MS = 30_000;

export interface DiscoverySettings {
  /** ENGINE_MODELS: served models as configured, instead of asking the engine. */
  readonly configuredModels: readonly string[] | undefined;
  readonly aliases: readonly string[];
  /** How often to look while no model is known yet (the engine poll interval). */
  readonly earlyIntervalMs: number;
  readonly consumer: Omit<ConsumerSettings, 'queueName' | 'model'>;
}

/**
 * Which model queues this dispatcher consumes: the models its engine serves
 * (asked again every 30 s) plus the configured aliases, one consumer each.
 * Until the engine is ready its models may be unknown, so it looks on every
 * engine poll until some are.
 */
export class ModelDiscovery {
  private readonly consumers = new Map<string, ModelConsumer>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private earlyTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly unreachable: ErrorEpisode;

  constructor(
    private readonly settings: DiscoverySettings,
    private readonly parts: {
      readonly adapter: EngineAdapter;
      readonly names: RedisNames;
      readonly gate: CapacityGate;
      readonly handle: JobHandler;
      readonly failures: InternalFailures<DispatcherOperation>;
      readonly logger: Logger;
      /** Called once a model's consumer runs (cache affinity opens the model's lane beside it). */
      readonly opened?: (model: string, consumer: ModelConsumer) => Promise<void>;
    },
  ) {
    this.unreachable = new ErrorEpisode(parts.logger, 'cannot list the engine\'s models; looking again later');
  }

  get models(): string[] {
    return [...this.consumers.keys()];
  }

  async start(): Promise<void> {
    await this.sync();
    this.refreshTimer = setInterval(() => void this.sync(), MODEL_REFRESH_MS);
    this.earlyTimer = setInterval(() => {
      if (this.consumers.size > 0) clearInterval(this.earlyTimer);
      else void this.sync();
    }, this.settings.earlyIntervalMs);
  }

  /** Stops looking and pulling; jobs already held keep running. */
  async stopPulling(): Promise<void> {
    this.stopped = true;
    clearInterval(this.refreshTimer);
    clearInterval(this.earlyTimer);
    await Promise.all([...this.consumers.values()].map((c) => c.stopPulling()));
  }

  async close(): Promise<void> {
    await this.stopPulling();
    await Promise.all([...this.consumers.values()].map((c) => c.close()));
  }

  /** Never rejects: a failure is reported and the next round tries again. */
  private async sync(): Promise<void> {
    let served: readonly string[];
    try {
      served = this.settings.configuredModels ?? (await this.parts.adapter.models());
      this.unreachable.recovered();
    } catch (err) {
      this.unreachable.error(err);
      this.parts.failures.count('model_discovery');
      return;
    }
    for (const model of new Set([...served, ...this.settings.aliases])) {
      if (this.consumers.has(model) || this.stopped) continue;
      await this.consume(model);
    }
  }

  private async consume(model: string): Promise<void> {
    const { names, gate, handle, failures, logger } = this.parts;
    const consumer = new ModelConsumer(
      { ...this.settings.consumer, queueName: names.queueName(model), model },
      gate,
      handle,
      logger,
      failures,
    );
    this.consumers.set(model, consumer);
    try {
      await consumer.start();
      await this.parts.opened?.(model, consumer);
      logger.info({ model }, 'consuming model queue');
    } catch (err) {
      // Forgotten, so that the next round starts it again.
      this.consumers.delete(model);
      failures.report('worker_start', err, 'could not start consuming a model queue; trying again later', { model });
      await consumer.close().catch((closeErr: unknown) => failures.report('worker_close', closeErr, 'could not close a consumer that failed to start', { model }));
    }
  }
}
