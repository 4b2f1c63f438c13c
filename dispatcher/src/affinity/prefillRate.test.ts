import { describe, expect, it } from 'vitest';
import { PrefillRate } from './prefillRate.js';

describe("an engine's prefill rate", () => {
  it('is unknown until an answer reports timings for enough evaluated tokens', () => {
    const rate = new PrefillRate();
    rate.observe({ cached: 10, evaluated: 400 });
    rate.observe({ cached: 400, evaluated: 4, promptMs: 20 });
    expect(rate.msPerToken).toBeUndefined();
    rate.observe({ cached: 0, evaluated: 400, promptMs: 200 });
    expect(rate.msPerToken).toBeCloseTo(0.5);
  });

  it('weighs long prefills over short ones, and follows a change within a few answers', () => {
    const rate = new PrefillRate();
    rate.observe({ cached: 0, evaluated: 1000, promptMs: 300 });
    rate.observe({ cached: 0, evaluated: 40, promptMs: 40 });
    expect(rate.msPerToken).toBeLessThan(0.4);
    for (let i = 0; i < 6; i++) rate.observe({ cached: 0, evaluated: 500, promptMs: 2500 });
    expect(rate.msPerToken).toBeGreaterThan(4);
  });
});
