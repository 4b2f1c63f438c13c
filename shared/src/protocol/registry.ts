/**
 * What each dispatcher tells the fleet about itself, refreshed every
 * heartbeat under a key that expires when the dispatcher stops refreshing.
 */
export interface DispatcherState {
  readonly id: string;
  readonly engineUrl: string;
  readonly engineKind: string;
  readonly models: readonly string[];
  readonly ready: boolean;
  readonly slots: { readonly total: number; readonly busy: number; readonly free: number };
  readonly inFlight: number;
  readonly outsideLoad: number;
  readonly blockedBy: string | null;
  readonly lastError: string | null;
  readonly startedAt: number;
  readonly updatedAt: number;
  /** True while the dispatcher drains before exiting; it pulls nothing new. */
  readonly draining: boolean;
  /**
   * Present when the dispatcher serves affinity lanes: its engine's cache
   * epoch. Index entries of another epoch are stale (the engine restarted).
   */
  readonly affinityEpoch?: string;
  /**
   * With affinity lanes: what the engine spends per uncached prompt token
   * (ms), from its own recent timings. Unknown (absent) until it has
   * reported some; vLLM never does.
   */
  readonly prefillMsPerToken?: number;
  /**
   * The engine's own `/v1/models` entries, every field as the engine sent it
   * (llama.cpp `aliases`, `meta`; vLLM `max_model_len`, `root`…). Absent from
   * older dispatchers.
   */
  readonly modelCards?: readonly ModelCard[];
}

/** One `data` entry of an engine's `/v1/models`, as the engine sent it. */
export type ModelCard = Readonly<Record<string, unknown>> & { readonly id: string };

/** The cards of a `/v1/models` body; entries without a string `id` are not cards. */
export function modelCardsOf(body: unknown): ModelCard[] {
  const data = (body as { data?: unknown } | null | undefined)?.data;
  if (!Array.isArray(data)) return [];
  return data.filter((c): c is ModelCard => typeof c === 'object' && c !== null && typeof (c as { id?: unknown }).id === 'string');
}

export function parseDispatcherState(raw: string | null): DispatcherState | undefined {
  if (raw === null) return undefined;
  try {
    const s = JSON.parse(raw) as DispatcherState;
    return typeof s.id === 'string' && Array.isArray(s.models) ? s : undefined;
  } catch {
    // Read as absent: an entry nobody can parse serves no model, and it expires with its heartbeat TTL.
    return undefined;
  }
}
