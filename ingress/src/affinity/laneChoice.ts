import { MAX_INDEX_HOLDERS, type AffinityKeys, type DispatcherState, type IndexEntry } from '@infergate/shared';

/** What one lookup read: the holders of the request's keys, newest first, and the lanes' depths. */
export interface LookupReading {
  readonly session: readonly IndexEntry[];
  /** Holders of each chain hash, shortest prefix first (empty: not in the index). */
  readonly blocks: readonly (readonly IndexEntry[])[];
  /** Jobs waiting in each live dispatcher's lane for the model. */
  readonly laneWaiting: ReadonlyMap<string, number>;
}

export interface GuardSettings {
  /** The owner has no free slot while another engine has at least this many: skip the lane (0: never). */
  readonly imbalanceFreeSlots: number;
  readonly laneWaitingPerSlot: number;
  /** The steal bound: the longest a request waits in a lane (AFFINITY_MAX_WAIT_MS). */
  readonly maxWaitMs: number;
}

/** No tokenizer at the ingress: English text runs about 4 characters to a token (as the simulator counts). */
const CHARS_PER_TOKEN = 4;

/** A shorter wait is not worth a lane: the steal's two Redis round trips would cost what it saves. */
const MIN_BUSY_WAIT_MS = 5;

/** Why a request with affinity keys still went to the shared queue. */
export type MissReason = 'no_entry' | 'owner_gone' | 'owner_unavailable' | 'owner_busy' | 'lane_full';

export type LaneChoice =
  /**
   * `matchedChars`: the prompt prefix the index says the lane's engine holds;
   * `waitMs`: how long the request may wait there before any engine may take it;
   * `busy`: the engine was full while another had room, and the prefill saved outweighs the wait.
   */
  | { readonly lane: string; readonly via: 'session' | 'prefix'; readonly matchedChars: number; readonly waitMs: number; readonly busy?: true }
  /** Every engine that could take it holds the prefix: the shared queue, where the first free slot takes it. */
  | { readonly everywhere: true; readonly matchedChars: number }
  | { readonly miss: MissReason };

/**
 * Picks the lane a request waits in, if any: the engine named by its
 * session, else one holding its longest indexed prefix (of several holders,
 * one with a free slot; none when every engine holds it), provided that engine is alive in the same cache
 * epoch and pullable. An owner with no free slot while another engine has
 * room (SGLang's imbalance guard, in slots) is waited for only as long as
 * the prefill its cache saves: the engine's measured cost per token times
 * the tokens it holds beyond what the best engine with room holds. That is
 * the ski-rental rule: waiting at most what the alternative costs loses at
 * most 2× against knowing the owner's next free slot in advance. Without a
 * measured cost (vLLM), such a request goes where there is room. Pure, so
 * every rule is tested without Redis.
 */
export function chooseLane(
  keys: AffinityKeys,
  reading: LookupReading,
  fleet: readonly DispatcherState[],
  settings: GuardSettings,
): LaneChoice {
  const live = new Map(fleet.map((d) => [d.id, d]));
  const current = (holders: readonly IndexEntry[]) =>
    holders.flatMap((e) => {
      const d = live.get(e.dispatcher);
      return d !== undefined && d.affinityEpoch === e.epoch ? [d] : [];
    });
  const waiting = (d: DispatcherState) => reading.laneWaiting.get(d.id) ?? 0;
  const room = (d: DispatcherState) => d.slots.free - waiting(d);
  const hasRoom = (d: DispatcherState) => pullable(d) && room(d) > 0;
  const pick = (holders: readonly DispatcherState[]) => holders.find(hasRoom) ?? holders.find(pullable) ?? holders[0];
  /** The longest prefix at or below `from` with a current holder, the holder to take, and all of them. */
  const longestHeld = (from: number, take: (holders: readonly DispatcherState[]) => DispatcherState | undefined) => {
    for (let k = from; k >= 0; k--) {
      const holders = current(reading.blocks[k]!);
      const owner = take(holders);
      if (owner) return { owner, k, holders };
    }
    return undefined;
  };

  const sessionOwner = pick(current(reading.session));
  const held = sessionOwner ? { owner: sessionOwner, k: matchedIndex(reading.blocks, sessionOwner.id), holders: [] } : longestHeld(reading.blocks.length - 1, pick);
  const via: 'session' | 'prefix' = sessionOwner ? 'session' : 'prefix';
  if (!held) {
    const named = reading.session.length > 0 || reading.blocks.some((b) => b.length > 0);
    return { miss: named ? 'owner_gone' : 'no_entry' };
  }
  const { owner } = held;
  const matched = (k: number) => (k < 0 ? 0 : keys.chain.covers[k]!);
  if (!pullable(owner)) return { miss: 'owner_unavailable' };
  // A lane would only make the request wait for one warm engine while the others, as warm, free up first
  // (a system prompt every request shares is soon held by every engine). An entry names at most
  // MAX_INDEX_HOLDERS: in a larger pool, a prefix that many engines hold counts as held by all.
  const { holders } = held;
  if (via === 'prefix' && (holders.length >= MAX_INDEX_HOLDERS || fleet.every((d) => !pullable(d) || holders.includes(d)))) {
    return { everywhere: true, matchedChars: matched(held.k) };
  }
  if (waiting(owner) >= owner.slots.total * settings.laneWaitingPerSlot) return { miss: 'lane_full' };
  const lane = { lane: owner.id, via, matchedChars: matched(held.k), waitMs: settings.maxWaitMs };
  if (settings.imbalanceFreeSlots > 0 && room(owner) <= 0) {
    const idle = fleet.some((d) => d !== owner && pullable(d) && room(d) >= settings.imbalanceFreeSlots);
    if (idle) {
      const warmer = via === 'prefix' ? longestHeld(held.k - 1, (holders) => holders.find(hasRoom)) : undefined;
      const savedChars = lane.matchedChars - (warmer ? matched(warmer.k) : 0);
      const waitMs = Math.min(settings.maxWaitMs, ((owner.prefillMsPerToken ?? 0) * savedChars) / CHARS_PER_TOKEN);
      if (waitMs >= MIN_BUSY_WAIT_MS) return { ...lane, waitMs: Math.round(waitMs), busy: true };
      return warmer ? { lane: warmer.owner.id, via, matchedChars: matched(warmer.k), waitMs: settings.maxWaitMs } : { miss: 'owner_busy' };
    }
  }
  return lane;
}

function pullable(d: DispatcherState): boolean {
  return d.ready && !d.draining && d.blockedBy === null;
}

/** Longest chain position whose holders include `dispatcher`; -1 when none does. */
function matchedIndex(blocks: readonly (readonly IndexEntry[])[], dispatcher: string): number {
  for (let k = blocks.length - 1; k >= 0; k--) if (blocks[k]!.some((e) => e.dispatcher === dispatcher)) return k;
  return -1;
}
