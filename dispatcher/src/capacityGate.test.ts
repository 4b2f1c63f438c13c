import { afterEach, describe, expect, it, vi } from 'vitest';
import { CapacityGate } from './capacityGate.js';

describe('capacity gate', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('has no free slot until an engine poll says ready', () => {
    const gate = new CapacityGate();
    expect(gate.tryAcquire()).toBe(false);
    gate.update({ ready: true, total: 2, outside: 0, blockedBy: undefined });
    expect(gate.free).toBe(2);
  });

  it('never hands out more than total − in-flight − outside load', () => {
    const gate = new CapacityGate();
    gate.update({ ready: true, total: 4, outside: 1, blockedBy: undefined });
    const taken = [gate.tryAcquire(), gate.tryAcquire(), gate.tryAcquire(), gate.tryAcquire()];
    expect(taken).toEqual([true, true, true, false]);
    gate.update({ ready: true, total: 4, outside: 3, blockedBy: undefined });
    expect(gate.free).toBe(0);
    gate.release();
    gate.release();
    expect(gate.free).toBe(0);
    gate.release();
    expect(gate.free).toBe(1);
  });

  it('is closed while the engine is unready or under pressure', () => {
    const gate = new CapacityGate();
    gate.update({ ready: false, total: 4, outside: 0, blockedBy: undefined });
    expect(gate.free).toBe(0);
    gate.update({ ready: true, total: 4, outside: 0, blockedBy: 'kv cache 95%' });
    expect(gate.free).toBe(0);
    expect(gate.state.blockedBy).toBe('kv cache 95%');
  });

  it('wakes waiters the moment a slot frees', async () => {
    // On a fake clock no time passes unless the test moves it, so "at once" means without any timer.
    vi.useFakeTimers();
    const gate = new CapacityGate();
    gate.update({ ready: true, total: 1, outside: 0, blockedBy: undefined });
    expect(gate.tryAcquire()).toBe(true);
    let woke = false;
    const waiting = gate.whenFree().then(() => (woke = true));
    // Every timer and promise callback pending so far has run: nothing but a release may wake the waiter.
    await vi.runAllTimersAsync();
    expect(woke).toBe(false);
    gate.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(woke).toBe(true);
    await waiting;
  });

  it('lets an abort signal end a wait', async () => {
    const gate = new CapacityGate();
    const stop = new AbortController();
    const waiting = gate.whenFree(stop.signal);
    stop.abort();
    await expect(waiting).resolves.toBeUndefined();
    expect(gate.free).toBe(0);
  });
});
