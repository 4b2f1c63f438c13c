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
