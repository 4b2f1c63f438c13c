import { describe, expect, it } from 'vitest';
import type { DispatcherState, QueueSummary } from '@infergate/shared';
import { poolLoad } from './poolLoad.js';

const counts = (waiting: number, prioritized = 0) => ({ waiting, prioritized, delayed: 0, active: 0, completed: 0, failed: 0 });

function queue(model: string, waiting: number, laneWaiting: number[] = []): QueueSummary {
  return {
    model,
    queue: model,
    paused: false,
    counts: counts(waiting, 1),
    oldestAgeMs: undefined,
    lanes: laneWaiting.map((n, i) => ({ dispatcher: `d${i}`, queue: `lane${i}`, counts: counts(n), oldestAgeMs: undefined })),
  } as unknown as QueueSummary;
}

function dispatcher(models: string[], busy: number, total: number, draining = false): DispatcherState {
  return { models, slots: { total, busy, free: total - busy }, draining } as unknown as DispatcherState;
}

describe('poolLoad', () => {
  it('is (busy + waiting) / slots of the engines serving the model, lanes and priority classes included', () => {
    const [load] = poolLoad([queue('m', 2, [1])], [dispatcher(['m'], 4, 4), dispatcher(['m', 'other'], 0, 4), dispatcher(['other'], 4, 4)]);
    // Waiting: 2 + 1 prioritized + 1 in a lane; slots: 8 of the two engines serving m.
    expect(load).toEqual({ model: 'm', waiting: 4, busy: 4, free: 4, total: 8, saturation: 1 });
  });

  it('counts no draining engine, and with no slots at all is the number of waiting jobs', () => {
    expect(poolLoad([queue('m', 2)], [dispatcher(['m'], 1, 4, true)])[0]!.saturation).toBe(3);
    expect(poolLoad([queue('m', 0)], [])[0]!.saturation).toBe(1);
  });
});
