import { ErrorEpisode, modelCardsOf, type InternalFailures, type Logger, type ModelCard } from '@infergate/shared';
import type { EngineClient } from './engines/index.js';
import type { DispatcherOperation } from './metrics.js';

const REFRESH_MS = 30_000;
const PROBE_TIMEOUT_MS = 2_000;

/**
 * The engine's own `/v1/models` entries, every field as it sent them, for
 * the registry: the ingress's `/v1/models` merges them across the fleet.
 * Both engine kinds serve that route in the OpenAI shape. Looked at on every
 * engine poll until the engine lists some, then every 30 s like the served
 * models; the last list stays while the engine cannot be asked.
 */
export class ModelCards {
  private cards: readonly ModelCard[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly unreachable: ErrorEpisode;

  constructor(
    private readonly engine: EngineClient,
    private readonly earlyIntervalMs: number,
    private readonly failures: InternalFailures<DispatcherOperation>,
    logger: Logger,
  ) {
    this.unreachable = new ErrorEpisode(logger, 'cannot read the engine\'s model cards; looking again later');
  }

  get current(): readonly ModelCard[] {
    return this.cards;
  }

  async start(): Promise<void> {
    await this.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** Never rejects: a failure is reported and the next round tries again. */
  private async refresh(): Promise<void> {
    try {
      const res = await this.engine.getJson('/v1/models', PROBE_TIMEOUT_MS);
      if (res.status === 200) this.cards = modelCardsOf(res.body);
      this.unreachable.recovered();
    } catch (err) {
      this.unreachable.error(err);
      this.failures.count('model_discovery');
    }
    this.timer = setTimeout(() => void this.refresh(), this.cards.length > 0 ? REFRESH_MS : this.earlyIntervalMs);
    this.timer.unref();
  }
}
