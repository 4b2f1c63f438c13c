import { CapacityGate } from './capacityGate.js';
import type { EngineSnapshot, ModelReading } from './engines/index.js';

/** What a model consumer needs of a gate: wait for a slot, take it, give it back. */
export interface SlotGate {
  /** Slots a job could take now (0 or less: none). */
  readonly free: number;
  whenFree(signal?: AbortSignal): Promise<void>;
  tryAcquire(): boolean;
  release(): void;
}

/** A gate that never limits: the model has no slots of its own, the engine gate decides alone. */
const UNLIMITED = { ready: true, total: Number.MAX_SAFE_INTEGER, outside: 0, blockedBy: undefined } as const;

/**
 * A slot needs room in both gates: the engine's (readiness, breaker,
 * pressure, the engine-wide total) and its model's.
 */
class JointGate implements SlotGate {
  constructor(
    private readonly engine: CapacityGate,
    private readonly model: CapacityGate,
  ) {}

  get free(): number {
    return Math.min(this.engine.free, this.model.free);
  }

  async whenFree(signal?: AbortSignal): Promise<void> {
    // Each wait ends only when that gate has room, so this does not spin.
    while (!signal?.aborted) {
      if (this.engine.free <= 0) await this.engine.whenFree(signal);
      else if (this.model.free <= 0) await this.model.whenFree(signal);
      else return;
    }
  }

  tryAcquire(): boolean {
    if (!this.model.tryAcquire()) return false;
    if (this.engine.tryAcquire()) return true;
    this.model.release();
    return false;
  }

  release(): void {
    this.model.release();
    this.engine.release();
  }
}

/**
 * Per-model capacity for an engine that serves each model with slots of its
 * own (a llama.cpp router). A loaded model gets the slots the router reports
 * for it. An unloaded or loading model's slot count cannot be known before
 * its child exists, so it gets one: the request that makes the router load
 * it; the next poll after the load learns the real count. A failed model
 * gets none. For an engine with one slot pool (no per-model readings) every
 * model gate is unlimited and the engine gate alone decides, as before.
 */
export class ModelGates {
  private readonly gates = new Map<string, CapacityGate>();

  constructor(private readonly engine: CapacityGate) {}

  /** The gate for a model queue's consumer; closed until the first engine reading. */
  gateFor(model: string): SlotGate {
    let gate = this.gates.get(model);
    if (gate === undefined) {
      gate = new CapacityGate();
      this.gates.set(model, gate);
    }
    return new JointGate(this.engine, gate);
  }

  /** Applies an engine reading to every model gate. */
  apply(snap: EngineSnapshot): void {
    for (const [model, gate] of this.gates) {
      if (snap.models === undefined) {
        gate.update(UNLIMITED);
        continue;
      }
      const reading = snap.models.get(model);
      gate.update(reading === undefined ? { ready: false, total: 0, outside: 0, blockedBy: 'not listed by the router' } : readingGate(reading, gate.state.inFlight));
    }
  }
}

function readingGate(reading: ModelReading, inFlight: number) {
  if (reading.status === 'failed') return { ready: false, total: 0, outside: 0, blockedBy: 'model failed to load' };
  if (reading.totalSlots === undefined) return { ready: true, total: 1, outside: 0, blockedBy: undefined };
  // Busy slots beyond our own requests are someone else's (or ours just ended; the next poll corrects it).
  return { ready: true, total: reading.totalSlots, outside: Math.max(0, reading.busy - inFlight), blockedBy: undefined };
}
