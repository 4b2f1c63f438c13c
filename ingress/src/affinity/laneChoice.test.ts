import { describe, expect, it } from 'vitest';
import type { AffinityKeys, DispatcherState, IndexEntry } from '@infergate/shared';
import { chooseLane, type LookupReading } from './laneChoice.js';

const keys: AffinityKeys = { chain: { hashes: ['h0', 'h1', 'h2', 'h3'], covers: [256, 512, 768, 1024], promptChars: 2048 } };
const settings = { imbalanceFreeSlots: 1, laneWaitingPerSlot: 2, maxWaitMs: 500 };

function engine(id: string, free: number, extra: Partial<DispatcherState> = {}): DispatcherState {
  return {
    id, engineUrl: `http://${id}`, engineKind: 'llamacpp', models: ['m'], ready: true,
    slots: { total: 2, busy: 2 - free, free }, inFlight: 2 - free, outsideLoad: 0, blockedBy: null, lastError: null,
    startedAt: 0, updatedAt: Date.now(), draining: false, affinityEpoch: 'e1', ...extra,
  };
}
const at = (dispatcher: string, epoch = 'e1') => ({ dispatcher, epoch });
type Holders = IndexEntry | IndexEntry[] | undefined;
const holders = (h: Holders): IndexEntry[] => (h === undefined ? [] : Array.isArray(h) ? h : [h]);
/** A lookup's reading; a block or the session names one holder, several (newest first) or none. */
const reading = (blocks: Holders[], extra: { session?: Holders; laneWaiting?: Map<string, number> } = {}): LookupReading => ({
  session: holders(extra.session),
  blocks: blocks.map(holders),
  laneWaiting: extra.laneWaiting ?? new Map(),
});

describe('lane choice', () => {
  it('follows the longest indexed prefix, and reports how much of the prompt it covers', () => {
    const choice = chooseLane(keys, reading([at('a'), at('a'), at('b'), undefined]), [engine('a', 2), engine('b', 2)], settings);
    expect(choice).toEqual({ lane: 'b', via: 'prefix', matchedChars: 768, waitMs: 500 });
  });

  it('prefers the session over the prefix', () => {
    const choice = chooseLane(keys, reading([at('a'), at('a')], { session: at('b') }), [engine('a', 2), engine('b', 2)], settings);
    expect(choice).toMatchObject({ lane: 'b', via: 'session', matchedChars: 0 });
  });

  it('ignores entries of another cache epoch (the engine restarted) or of a dispatcher that is gone', () => {
    expect(chooseLane(keys, reading([at('a', 'old')]), [engine('a', 2)], settings)).toEqual({ miss: 'owner_gone' });
    expect(chooseLane(keys, reading([at('z')]), [engine('a', 2)], settings)).toEqual({ miss: 'owner_gone' });
    expect(chooseLane(keys, reading([undefined]), [engine('a', 2)], settings)).toEqual({ miss: 'no_entry' });
    // A shorter prefix held in the current epoch still counts.
    expect(chooseLane(keys, reading([at('a'), at('b', 'old')]), [engine('a', 2), engine('b', 2)], settings)).toMatchObject({ lane: 'a' });
  });

  it('skips an owner that is draining, not ready or blocked', () => {
    for (const extra of [{ draining: true }, { ready: false }, { blockedBy: 'engine queue 4 > MAX_ALLOWED_DEFERRED' }]) {
      expect(chooseLane(keys, reading([at('a')]), [engine('a', 2, extra), engine('b', 2)], settings)).toMatchObject({ miss: 'owner_unavailable' });
    }
  });

  it('skips a full owner while another engine has a free slot, and waits for it when none has', () => {
    expect(chooseLane(keys, reading([at('a')]), [engine('a', 0), engine('b', 1)], settings)).toMatchObject({ miss: 'owner_busy' });
    expect(chooseLane(keys, reading([at('a')]), [engine('a', 0), engine('b', 0)], settings)).toMatchObject({ lane: 'a' });
    // Waiting lane jobs use up the free slots the registry shows.
    const queued = reading([at('a')], { laneWaiting: new Map([['a', 1], ['b', 1]]) });
    expect(chooseLane(keys, queued, [engine('a', 1), engine('b', 2)], settings)).toMatchObject({ miss: 'owner_busy' });
    expect(chooseLane(keys, reading([at('a')]), [engine('a', 0), engine('b', 2)], { ...settings, imbalanceFreeSlots: 0 })).toMatchObject({ lane: 'a' });
  });

  it('waits for a full owner beside an idle engine only as long as the prefill its cache saves', () => {
    // 1,024 characters held, ~256 tokens at 1 ms each: worth up to 256 ms of waiting.
    const slow = (id: string, free: number) => engine(id, free, { prefillMsPerToken: 1 });
    expect(chooseLane(keys, reading([at('a'), at('a'), at('a'), at('a')]), [slow('a', 0), slow('b', 2)], settings)).toEqual({
      lane: 'a', via: 'prefix', matchedChars: 1024, waitMs: 256, busy: true,
    });
    // Never longer than the steal bound.
    expect(chooseLane(keys, reading([at('a'), at('a'), at('a'), at('a')]), [slow('a', 0), slow('b', 2)], { ...settings, maxWaitMs: 100 })).toMatchObject({ lane: 'a', waitMs: 100 });
    // Only what the best engine with room lacks counts: b holds 768 of the 1,024 characters.
    expect(chooseLane(keys, reading([[at('a'), at('b')], [at('a'), at('b')], [at('a'), at('b')], at('a')]), [slow('a', 0), slow('b', 2)], settings)).toMatchObject({ lane: 'a', waitMs: 64, busy: true });
    // A cache that saves next to nothing (a fast engine), or an engine that reports no timings: where the room is.
    const fast = [engine('a', 0, { prefillMsPerToken: 0.01 }), engine('b', 2)];
    expect(chooseLane(keys, reading([at('a'), at('a'), at('a'), at('a')]), fast, settings)).toEqual({ miss: 'owner_busy' });
    expect(chooseLane(keys, reading([[at('a'), at('b')], at('a')]), [slow('a', 0), slow('b', 2)], { ...settings, maxWaitMs: 0 })).toEqual({ lane: 'b', via: 'prefix', matchedChars: 256, waitMs: 0 });
  });

  it('skips a lane that already holds its share of waiting jobs', () => {
    const deep = reading([at('a')], { laneWaiting: new Map([['a', 4]]) });
    expect(chooseLane(keys, deep, [engine('a', 0), engine('b', 0)], settings)).toMatchObject({ miss: 'lane_full' });
  });

  it('of several engines holding the prefix, takes one with a free slot rather than wait for the newest', () => {
    const fleet = [engine('a', 0), engine('b', 1), engine('c', 2)];
    expect(chooseLane(keys, reading([[at('a'), at('b')], [at('a'), at('b')]]), fleet, settings)).toEqual({ lane: 'b', via: 'prefix', matchedChars: 512, waitMs: 500 });
    // Both holders full and no engine idle: it waits for the newest.
    expect(chooseLane(keys, reading([[at('a'), at('b')]]), [engine('a', 0), engine('b', 0), engine('c', 0)], settings)).toMatchObject({ lane: 'a' });
  });

  it('takes an engine holding a shorter prefix with a free slot before a cold one when the longest holder is full', () => {
    const fleet = [engine('a', 0), engine('b', 1), engine('c', 2)];
    expect(chooseLane(keys, reading([[at('a'), at('b')], at('a'), at('a')]), fleet, settings)).toEqual({ lane: 'b', via: 'prefix', matchedChars: 256, waitMs: 500 });
  });

  it('sends a prefix every engine holds to the shared queue: no lane is warmer than another', () => {
    const fleet = [engine('a', 0), engine('b', 0), engine('c', 1, { draining: true })];
    expect(chooseLane(keys, reading([[at('a'), at('b')], [at('b'), at('a')]]), fleet, settings)).toEqual({ everywhere: true, matchedChars: 512 });
    // A pool larger than an entry's list: as many holders as it names is held widely enough.
    const pool = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => engine(id, 0));
    expect(chooseLane(keys, reading([['a', 'b', 'c', 'd'].map((id) => at(id))]), pool, settings)).toEqual({ everywhere: true, matchedChars: 256 });
    expect(chooseLane(keys, reading([['a', 'b', 'c'].map((id) => at(id))]), pool, settings)).toMatchObject({ lane: 'a' });
    // A session still names its engine.
    expect(chooseLane(keys, reading([[at('a'), at('b')]], { session: at('b') }), fleet, settings)).toMatchObject({ lane: 'b', via: 'session' });
  });
});
