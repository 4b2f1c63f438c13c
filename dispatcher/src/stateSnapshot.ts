import type { DispatcherState, ModelCard } from '@infergate/shared';
import type { CapacityGate } from './capacityGate.js';
import type { EngineMonitor } from './engineMonitor.js';
import type { EngineKind } from './engines/index.js';

export interface StateSources {
  readonly id: string;
  readonly engineUrl: string;
  readonly engineKind: EngineKind;
  readonly startedAt: number;
  readonly gate: CapacityGate;
  readonly monitor: EngineMonitor;
  models(): string[];
  modelCards(): readonly ModelCard[];
  draining(): boolean;
  /** The engine's cache epoch, when this dispatcher serves affinity lanes. */
  affinityEpoch?(): string;
  /** The engine's recent prefill cost per prompt token, when this dispatcher serves lanes and has seen it. */
  prefillMsPerToken?(): number | undefined;
}

/** What this dispatcher tells the registry, its `/state` route and its probes, as of now. */
export function stateSnapshot(s: StateSources): () => DispatcherState {
  return () => {
    const g = s.gate.state;
    const draining = s.draining();
    return {
      id: s.id,
      engineUrl: s.engineUrl,
      engineKind: s.engineKind,
      models: s.models(),
      modelCards: s.modelCards(),
      ready: g.ready,
      slots: { total: g.total, busy: g.inFlight + g.outside, free: g.free },
      inFlight: g.inFlight,
      outsideLoad: g.outside,
      blockedBy: draining ? 'draining' : (g.blockedBy ?? null),
      lastError: s.monitor.lastError ?? null,
      startedAt: s.startedAt,
      updatedAt: Date.now(),
      draining,
      ...(s.affinityEpoch ? { affinityEpoch: s.affinityEpoch() } : {}),
      ...prefill(s.prefillMsPerToken?.()),
    };
  };
}

function prefill(msPerToken: number | undefined): { prefillMsPerToken?: number } {
  return msPerToken === undefined ? {} : { prefillMsPerToken: Math.round(msPerToken * 1e4) / 1e4 };
}
