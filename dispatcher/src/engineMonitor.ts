import type { InternalFailures, Logger } from '@infergate/shared';
import type { CapacityGate } from './capacityGate.js';
import type { EngineAdapter, EngineSnapshot } from './engines/index.js';
import type { DispatcherOperation } from './metrics.js';

/** First pause after an engine failed a request before answering; doubles per failure in a row. */
const FAILURE_BACKOFF_MS = 1_000;
const FAILURE_BACKOFF_MAX_MS = 30_000;

/** Extra readings a poll may take while one of ours started or ended around the last. */
const REREADS = 2;

export interface MonitorSettings {
  readonly intervalMs: number;
  /** Outside requests (running + queued, not ours) above which the engine counts as saturated. */
  readonly maxRequestQueue: number;
  /** Requests queued inside the engine above which it counts as saturated. */
  readonly maxDeferred: number;
  readonly configuredSlots: number | undefined;
}

/**
 * Polls the engine and corrects the gate for what the dispatcher cannot count
 * itself: readiness, slot total, load from other clients, engine pressure.
 * The gate's own in-flight count never waits for a poll.
 */
export class EngineMonitor {
  private timer: NodeJS.Timeout | undefined;
  private previous: EngineSnapshot | undefined;
  private stopped = false;
  lastError: string | undefined;
  private failures = 0;
  private failedUntil = 0;
  private failureReason = '';

  constructor(
    private readonly adapter: EngineAdapter,
    private readonly gate: CapacityGate,
    private readonly settings: MonitorSettings,
    private readonly logger: Logger,
    private readonly internalFailures: InternalFailures<DispatcherOperation>,
  ) {}

  get snapshot(): EngineSnapshot | undefined {
    return this.previous;
  }

  start(): Promise<void> {
    return this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Takes the engine out of rotation until a poll finds it healthy again. */
  markFailed(reason: string): void {
    this.lastError = reason;
    // An engine can pass its health check and still fail every request; the
    // pause doubles with each failure in a row so its jobs go elsewhere.
    this.failures++;
    this.failedUntil = Date.now() + Math.min(FAILURE_BACKOFF_MAX_MS, FAILURE_BACKOFF_MS * 2 ** (this.failures - 1));
    this.failureReason = reason;
    this.gate.update({ ready: false, total: this.gate.state.total, outside: this.gate.state.outside, blockedBy: reason });
  }

  /** A request the engine answered: it works again. */
  markServed(): void {
    this.failures = 0;
    this.failedUntil = 0;
  }

  async poll(): Promise<void> {
    let snap = await this.read();
    // Whether a request of ours that started or ended around a reading is in
    // it cannot be known; a fresh reading mostly has no such request.
    for (let n = 0; n < REREADS && (snap.ours?.unsure ?? 0) > 0 && outsideLoad(snap) > 0; n++) snap = await this.read();
    // Taken for outside load, such a request keeps a slot idle until the next
    // poll instead of letting one queue inside the engine. Only load that is
    // outside for certain counts towards saturation.
    const outside = outsideLoad(snap);
    const surelyOutside = Math.max(0, outside - (snap.ours?.unsure ?? 0));
    const total = this.settings.configuredSlots ?? snap.totalSlots ?? 0;
    let blockedBy: string | undefined;
    if (!snap.ready) blockedBy = snap.problem ?? 'engine not ready';
    else if (total === 0) blockedBy = 'slot count unknown';
    else if (Date.now() < this.failedUntil) blockedBy = `failed recently: ${this.failureReason}`;
    else blockedBy = this.adapter.pressure(snap, this.previous) ?? this.saturation(snap, surelyOutside);
    if (blockedBy !== this.gate.state.blockedBy) {
      this.logger.info({ blockedBy: blockedBy ?? null, total, outside }, blockedBy ? 'engine not pullable' : 'engine pullable');
    }
    this.lastError = snap.ready ? undefined : (snap.problem ?? 'not ready');
    this.previous = snap;
    this.gate.update({ ready: snap.ready, total, outside, blockedBy });
  }

  /** A reading of the engine; one that fails describes an engine that is not ready. */
  private async read(): Promise<EngineSnapshot> {
    try {
      return await this.adapter.snapshot();
    } catch (err) {
      return { ready: false, totalSlots: this.previous?.totalSlots, busy: 0, waiting: 0, problem: describe(err) };
    }
  }

  private saturation(snap: EngineSnapshot, outside: number): string | undefined {
    if (snap.waiting > this.settings.maxDeferred) return `engine queue ${snap.waiting} > MAX_ALLOWED_DEFERRED`;
    if (outside > this.settings.maxRequestQueue) return `outside load ${outside} > MAX_ALLOWED_REQUEST_QUEUE`;
    return undefined;
  }

  private async tick(): Promise<void> {
    try {
      await this.poll();
    } catch (err) {
      // The gate keeps its last reading; the next poll corrects it.
      this.internalFailures.report('engine_poll', err, 'engine poll failed');
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.settings.intervalMs);
  }
}

/** Load on the engine that is not surely ours. */
function outsideLoad(snap: EngineSnapshot): number {
  return Math.max(0, snap.busy + snap.waiting - (snap.ours?.sure ?? 0));
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code === 'ECONNREFUSED' ? 'connection refused' : (e.code ?? e.message ?? 'unreachable');
}
