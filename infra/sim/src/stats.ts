/*
 * Two kinds of numbers. `Stats` is what tests assert on and can be reset
 * between cases; `EngineTotals` feeds the engine's own /metrics counters,
 * which must only grow, as Prometheus expects.
 */
import type { SlotPool } from './slots.js';

export interface SimStats {
  /** Requests holding a slot now. */
  processing: number;
  /** Requests waiting for a slot now (llama.cpp deferred, vLLM waiting). */
  waiting: number;
  peakProcessing: number;
  peakWaiting: number;
  /** Inference requests received (generation and embeddings). */
  requests: number;
  /** Requests that had to wait for a slot. */
  deferrals: number;
  completed: number;
  /** Requests whose client went away before the response was complete. */
  cancellations: number;
  /** Inference requests answered with an error status, injected or not. */
  errors: number;
  /** Requests a fault knob acted on. */
  faults: number;
  /** Generated tokens, the EOS token included. */
  tokens: number;
  /** Every engine request by path, health and metrics polls included. */
  byPath: Record<string, number>;
}

type Counter = Exclude<keyof SimStats, 'processing' | 'waiting' | 'peakProcessing' | 'peakWaiting' | 'byPath'>;

export class Stats {
  private counters = Stats.zero();
  private peakProcessing = 0;
  private peakWaiting = 0;
  private byPath: Record<string, number> = {};

  constructor(private readonly pool: SlotPool) {}

  private static zero(): Record<Counter, number> {
    return { requests: 0, deferrals: 0, completed: 0, cancellations: 0, errors: 0, faults: 0, tokens: 0 };
  }

  add(counter: Counter, n = 1): void {
    this.counters[counter] += n;
  }

  path(path: string): void {
    this.byPath[path] = (this.byPath[path] ?? 0) + 1;
  }

  /** Call after the pool's occupancy changed upwards. */
  observe(): void {
    this.peakProcessing = Math.max(this.peakProcessing, this.pool.busy);
    this.peakWaiting = Math.max(this.peakWaiting, this.pool.waiting);
  }

  snapshot(): SimStats {
    return {
      processing: this.pool.busy,
      waiting: this.pool.waiting,
      peakProcessing: this.peakProcessing,
      peakWaiting: this.peakWaiting,
      ...this.counters,
      byPath: { ...this.byPath },
    };
  }

  /** Peaks restart from the current occupancy, so in-flight requests still count. */
  reset(): void {
    this.counters = Stats.zero();
    this.byPath = {};
    this.peakProcessing = this.pool.busy;
    this.peakWaiting = this.pool.waiting;
  }
}

export class EngineTotals {
  /** Every prompt token, cached or not. */
  promptTokens = 0;
  /** Prompt tokens found in the prompt cache. */
  cachedTokens = 0;
  promptSeconds = 0;
  predictedTokens = 0;
  predictedSeconds = 0;
  /** Busy slots summed over every generated token, for llama.cpp's busy-slots-per-decode average. */
  busySlotsAtDecode = 0;
  maxSequence = 0;

  prompt(tokens: number, cached: number, ms: number): void {
    this.promptTokens += tokens;
    this.cachedTokens += cached;
    this.promptSeconds += ms / 1000;
  }

  /** One generated token; the simulator counts one decode call per token. */
  decode(busySlots: number): void {
    this.predictedTokens++;
    this.busySlotsAtDecode += busySlots;
  }

  finished(promptTokens: number, completionTokens: number, predictedMs: number): void {
    this.predictedSeconds += predictedMs / 1000;
    this.maxSequence = Math.max(this.maxSequence, promptTokens + completionTokens);
  }
}
