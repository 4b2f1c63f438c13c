import { describe, expect, it } from 'vitest';
import { SlotPool, type Slot, type SlotTask } from './slots.js';

const task = (id: number): SlotTask => ({ id, promptTokens: 1, maxTokens: -1, stream: false, temperature: 0, decoded: 0 });

describe('SlotPool', () => {
  it('grants free slots at once and queues the rest in FIFO order', () => {
    const pool = new SlotPool(2);
    const granted: number[] = [];
    const tickets = [1, 2, 3, 4].map((id) => pool.acquire(task(id), () => granted.push(id)));
    expect(tickets.map((t) => t.slot !== undefined)).toEqual([true, true, false, false]);
    expect([pool.busy, pool.waiting]).toEqual([2, 2]);
    tickets[1]!.cancel();
    expect(granted).toEqual([3]);
    tickets[0]!.cancel();
    expect(granted).toEqual([3, 4]);
    expect([pool.busy, pool.waiting]).toEqual([2, 0]);
  });

  it('drops a cancelled waiter without granting it', () => {
    const pool = new SlotPool(1);
    const granted: number[] = [];
    const first = pool.acquire(task(1), () => granted.push(1));
    const second = pool.acquire(task(2), () => granted.push(2));
    const third = pool.acquire(task(3), () => granted.push(3));
    second.cancel();
    expect(pool.waiting).toBe(1);
    first.cancel();
    expect(granted).toEqual([3]);
    third.cancel();
    third.cancel();
    expect(pool.busy).toBe(0);
  });

  it('keeps the last task of an idle slot and reuses the least recently used slot', () => {
    const pool = new SlotPool(2);
    const a = pool.acquire(task(1), () => undefined);
    const slotA = a.slot as Slot;
    a.cancel();
    expect(slotA.task).toBeUndefined();
    expect(slotA.lastTask?.id).toBe(1);
    const b = pool.acquire(task(2), () => undefined);
    expect(b.slot?.id).not.toBe(slotA.id);
  });

  it('grows by granting waiters and shrinks once busy slots finish', () => {
    const pool = new SlotPool(1);
    const granted: number[] = [];
    const first = pool.acquire(task(1), () => undefined);
    pool.acquire(task(2), () => granted.push(2));
    pool.resize(2);
    expect(granted).toEqual([2]);
    pool.resize(1);
    expect(pool.list().length).toBe(2);
    first.cancel();
    expect(pool.size).toBe(1);
    expect(pool.busy).toBe(1);
  });
});
