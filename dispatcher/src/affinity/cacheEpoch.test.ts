import { describe, expect, it } from 'vitest';
import type { EngineSnapshot } from '../engines/index.js';
import { CacheEpoch } from './cacheEpoch.js';

const poll = (ready: boolean, queries?: number): EngineSnapshot => ({
  ready,
  totalSlots: 2,
  busy: 0,
  waiting: 0,
  ...(queries === undefined ? {} : { prefixCache: { queries, hits: 0 } }),
});

describe('cache epoch', () => {
  it('differs between dispatcher processes', () => {
    expect(new CacheEpoch().current).not.toBe(new CacheEpoch().current);
  });

  it('starts a new epoch when the engine comes back after being seen down, not while it stays up', () => {
    const epoch = new CacheEpoch();
    const first = epoch.after(poll(true));
    expect(epoch.after(poll(true))).toBe(first);
    epoch.observe(poll(false));
    const second = epoch.after(poll(true));
    expect(second).not.toBe(first);
    expect(epoch.after(undefined)).toBe(second);
  });

  it("starts a new epoch when vLLM's cumulative prefix-cache queries drop (a restart between two polls)", () => {
    const epoch = new CacheEpoch();
    const first = epoch.after(poll(true, 500));
    expect(epoch.after(poll(true, 900))).toBe(first);
    expect(epoch.after(poll(true, 40))).not.toBe(first);
  });
});
