import { describe, expect, it } from 'vitest';
import { CapacityGate } from './capacityGate.js';
import type { EngineSnapshot, ModelReading } from './engines/index.js';
import { ModelGates } from './modelGates.js';

const open = (total: number) => ({ ready: true, total, outside: 0, blockedBy: undefined });

function routerReading(...models: ModelReading[]): EngineSnapshot {
  return { ready: true, totalSlots: 10, busy: 0, waiting: 0, models: new Map(models.map((m) => [m.id, m])) };
}

describe('per-model gates', () => {
  it('admit one request for a model whose slots are unknown, then as many as it has once loaded', async () => {
    const engine = new CapacityGate();
    engine.update(open(10));
    const gates = new ModelGates(engine);
    const a = gates.gateFor('a');
    gates.apply(routerReading({ id: 'a', status: 'unloaded', totalSlots: undefined, busy: 0 }));
    expect([a.tryAcquire(), a.tryAcquire()]).toEqual([true, false]);

    const room = a.whenFree();
    // Loaded with 2 slots, the loading request busy in one of them.
    gates.apply(routerReading({ id: 'a', status: 'loaded', totalSlots: 2, busy: 1 }));
    await room;
    expect([a.tryAcquire(), a.tryAcquire()]).toEqual([true, false]);
    expect(engine.state.inFlight).toBe(2);
    a.release();
    expect(engine.state.inFlight).toBe(1);
  });

  it('admit none for a failed or unlisted model, and leave an engine without per-model slots to its engine gate', () => {
    const engine = new CapacityGate();
    engine.update(open(1));
    const gates = new ModelGates(engine);
    const [failed, unlisted, plain] = [gates.gateFor('f'), gates.gateFor('gone'), gates.gateFor('p')];
    gates.apply(routerReading({ id: 'f', status: 'failed', totalSlots: undefined, busy: 0 }));
    expect([failed.tryAcquire(), unlisted.tryAcquire()]).toEqual([false, false]);

    gates.apply({ ready: true, totalSlots: 1, busy: 0, waiting: 0 });
    expect([plain.tryAcquire(), plain.tryAcquire()]).toEqual([true, false]);
  });
});
