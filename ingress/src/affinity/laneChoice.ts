import type { AffinityKeys, DispatcherState, IndexEntry } from '@infergate/shared';

/** What one lookup read: the index entries of the request's keys, and the lanes' depths. */
export interface LookupReading {
  readonly session: IndexEntry | undefined;
  /** Entry of each chain hash, shortest prefix first (undefined: not in the index). */
  readonly blocks: readonly (IndexEntry | undefined)[];
  /** Jobs waiting in each live dispatcher's lane for the model. */
  readonly laneWaiting: ReadonlyMap<string, number>;
}

export interface GuardSettings {
  /** The owner has no free slot while another engine has at least this many: skip the lane (0: never). */
  readonly imbalanceFreeSlots: number;
  readonly laneWaitingPerSlot: number;
}

/** Why a request with affinity keys still went to the shared queue. */
export type MissReason = 'no_entry' | 'owner_gone' | 'owner_unavailable' | 'owner_busy' | 'lane_full';

export type LaneChoice =
  /** `matchedChars`: the prompt prefix the index says the lane's engine holds. */
  | { readonly lane: string; readonly via: 'session' | 'prefix'; readonly matchedChars: number }
  | { readonly miss: MissReason };

/**
 * Picks the lane a request waits in, if any: the engine named by its session,
 * else by its longest indexed prefix, provided that engine is alive in the
 * same cache epoch, pullable, and not far busier than the rest (SGLang's
 * imbalance guard, in slots: a warm cache is never worth waiting beside an
 * idle engine). Pure, so every rule is tested without Redis.
 */
export function chooseLane(
  keys: AffinityKeys,
  reading: LookupReading,
  fleet: readonly DispatcherState[],
  settings: GuardSettings,
): LaneChoice {
  const current = (e: IndexEntry | undefined) => {
    if (e === undefined) return undefined;
    const d = fleet.find((x) => x.id === e.dispatcher);
    return d !== undefined && d.affinityEpoch === e.epoch ? d : undefined;
  };
  let longest = -1;
  let owner: DispatcherState | undefined;
  for (let k = reading.blocks.length - 1; k >= 0 && owner === undefined; k--) {
    owner = current(reading.blocks[k]);
    if (owner) longest = k;
  }
  const sessionOwner = current(reading.session);
  const via = sessionOwner ? 'session' : 'prefix';
  if (sessionOwner && sessionOwner !== owner) {
    owner = sessionOwner;
    longest = matchedIndex(reading.blocks, sessionOwner.id);
  }
  const matchedChars = longest < 0 ? 0 : keys.chain.covers[longest]!;
  if (!owner) {
    const named = reading.session !== undefined || reading.blocks.some((b) => b !== undefined);
    return { miss: named ? 'owner_gone' : 'no_entry' };
  }
  if (!pullable(owner)) return { miss: 'owner_unavailable' };
  const waiting = (d: DispatcherState) => reading.laneWaiting.get(d.id) ?? 0;
  if (waiting(owner) >= owner.slots.total * settings.laneWaitingPerSlot) return { miss: 'lane_full' };
  if (settings.imbalanceFreeSlots > 0 && owner.slots.free - waiting(owner) <= 0) {
    const idle = fleet.some((d) => d !== owner && pullable(d) && d.slots.free - waiting(d) >= settings.imbalanceFreeSlots);
    if (idle) return { miss: 'owner_busy' };
  }
  return { lane: owner.id, via, matchedChars };
}

function pullable(d: DispatcherState): boolean {
  return d.ready && !d.draining && d.blockedBy === null;
}

/** Longest chain position whose entry names `dispatcher`; -1 when none does. */
function matchedIndex(blocks: readonly (IndexEntry | undefined)[], dispatcher: string): number {
  for (let k = blocks.length - 1; k >= 0; k--) if (blocks[k]?.dispatcher === dispatcher) return k;
  return -1;
}
