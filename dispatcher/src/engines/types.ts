export type EngineKind = 'llamacpp' | 'vllm';

/** One reading of an engine's state, as the engine itself reports it. */
export interface EngineSnapshot {
  readonly ready: boolean;
  /** Requests the engine can run at once; undefined while unknown. */
  readonly totalSlots: number | undefined;
  /** Requests running on the engine, ours included. */
  readonly busy: number;
  /** Requests queued inside the engine (llama.cpp deferred, vLLM waiting). */
  readonly waiting: number;
  /** KV-cache fill 0–1, where the engine reports it. */
  readonly kvUsage?: number;
  /** Cumulative preemptions, where the engine reports them. */
  readonly preemptions?: number;
  /** Cumulative prompt tokens looked up in the prefix cache and found there (vLLM); a drop means a restart or reset. */
  readonly prefixCache?: { readonly queries: number; readonly hits: number };
  /** Why the engine is not ready, for the registry and /health. */
  readonly problem?: string;
  /**
   * Our own requests among `busy` and `waiting`: `sure` the reading certainly
   * includes; `unsure` started or ended around it, so it may or may not.
   */
  readonly ours?: { readonly sure: number; readonly unsure: number };
}

/**
 * The old proxy's abstract backend, in TypeScript: everything the dispatcher
 * needs to know about one engine kind. Forwarding itself is the same HTTP
 * relay for every kind and lives in the engine client.
 */
export interface EngineAdapter {
  readonly kind: EngineKind;
  snapshot(): Promise<EngineSnapshot>;
  /** Names the engine answers to (its own model ids and aliases). */
  models(): Promise<string[]>;
  /**
   * An engine-specific reason not to pull even with free slots (vLLM KV
   * pressure, rising preemptions), or undefined.
   */
  pressure(current: EngineSnapshot, previous: EngineSnapshot | undefined): string | undefined;
}
