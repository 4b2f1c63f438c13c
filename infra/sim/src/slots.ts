/*
 * The engine's concurrency limit: llama.cpp slots (`-np`) or vLLM's
 * max_num_seqs. A request holds a slot while it generates; the rest wait in
 * one FIFO, which is llama.cpp's deferred queue and vLLM's waiting queue.
 */

/** What /slots reports about the task a slot runs or last ran. */
export interface SlotTask {
  readonly id: number;
  readonly promptTokens: number;
  /** The request's output cap, -1 when it has none. */
  readonly maxTokens: number;
  readonly stream: boolean;
  readonly temperature: number;
  decoded: number;
  /** Prompt tokens the prompt cache supplied, once the slot started. */
  cachedTokens?: number;
}

export interface Slot {
  readonly id: number;
  task: SlotTask | undefined;
  lastTask: SlotTask | undefined;
}

export interface Ticket {
  /** The slot, once granted. A ticket granted at once has it on return. */
  readonly slot: Slot | undefined;
  /** Leaves the queue, or frees the slot; safe to call twice. */
  cancel(): void;
}

/** Chooses among free slots, least recently used first; the engine's prompt cache decides. */
export type SlotPicker = (free: readonly Slot[]) => Slot;

const leastRecentlyUsed: SlotPicker = (free) => free[0]!;

interface Waiter {
  readonly task: SlotTask;
  readonly pick: SlotPicker;
  readonly onGrant: (slot: Slot) => void;
  slot: Slot | undefined;
  done: boolean;
}

export class SlotPool {
  private readonly all: Slot[] = [];
  // Least recently used first, like llama.cpp's fallback slot choice.
  private free: Slot[] = [];
  private readonly queue = new Set<Waiter>();
  private capacity = 0;
  private busyCount = 0;

  constructor(size: number) {
    this.resize(size);
  }

  get size(): number {
    return this.capacity;
  }

  get busy(): number {
    return this.busyCount;
  }

  get waiting(): number {
    return this.queue.size;
  }

  /** Slots as /slots lists them: the configured ones plus any still busy past a shrink. */
  list(): readonly Slot[] {
    return this.all.filter((s) => s.id < this.capacity || s.task !== undefined);
  }

  /** `onGrant` runs only for a ticket that had to wait; check `ticket.slot` first. */
  acquire(task: SlotTask, onGrant: (slot: Slot) => void, pick: SlotPicker = leastRecentlyUsed): Ticket {
    const waiter: Waiter = { task, pick, onGrant, slot: undefined, done: false };
    const ticket: Ticket = {
      get slot() {
        return waiter.slot;
      },
      cancel: () => this.cancel(waiter),
    };
    const slot = this.take(pick);
    if (slot) this.assign(waiter, slot);
    else this.queue.add(waiter);
    return ticket;
  }

  resize(size: number): void {
    this.capacity = size;
    for (let id = this.all.length; id < size; id++) {
      const slot: Slot = { id, task: undefined, lastTask: undefined };
      this.all.push(slot);
      this.free.push(slot);
    }
    this.free = this.free.filter((s) => s.id < size);
    for (const slot of this.all) if (slot.id < size && slot.task === undefined && !this.free.includes(slot)) this.free.push(slot);
    this.grantWaiting();
  }

  private take(pick: SlotPicker): Slot | undefined {
    if (this.free.length === 0) return undefined;
    const slot = pick(this.free);
    this.free.splice(this.free.indexOf(slot), 1);
    return slot;
  }

  private assign(waiter: Waiter, slot: Slot): void {
    waiter.slot = slot;
    slot.task = waiter.task;
    this.busyCount++;
  }

  private cancel(waiter: Waiter): void {
    if (waiter.done) return;
    waiter.done = true;
    if (!waiter.slot) {
      this.queue.delete(waiter);
      return;
    }
    const slot = waiter.slot;
    slot.lastTask = slot.task;
    slot.task = undefined;
    this.busyCount--;
    if (slot.id < this.capacity) this.free.push(slot);
    this.grantWaiting();
  }

  private grantWaiting(): void {
    for (const waiter of this.queue) {
      const slot = this.take(waiter.pick);
      if (!slot) return;
      this.queue.delete(waiter);
      this.assign(waiter, slot);
      waiter.onGrant(slot);
    }
  }
}
