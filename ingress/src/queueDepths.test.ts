import { afterEach, describe, expect, it, vi } from 'vitest';
import { QueueDepths } from './queueDepths.js';

describe('queue depths for admission', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads Redis once, then answers from the reading adjusted by local adds and starts', async () => {
    let reads = 0;
    const depths = new QueueDepths(async () => {
      reads++;
      return 5;
    }, 60_000);
    expect(await depths.current('m')).toBe(5);
    depths.added('m');
    depths.added('m');
    depths.left('m');
    expect(await depths.current('m')).toBe(6);
    expect(reads).toBe(1);
  });

  it('refreshes a stale reading in the background without making the request wait', async () => {
    // A fake clock ages the reading exactly; the refresh waits for nothing but its own scheduled turn.
    vi.useFakeTimers();
    let value = 1;
    const depths = new QueueDepths(async () => value, 10);
    expect(await depths.current('m')).toBe(1);
    value = 9;
    vi.advanceTimersByTime(20);
    expect(depths.current('m')).toBe(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(depths.current('m')).toBe(9);
  });

  it('keeps the jobs this ingress queued while a refresh was on its way', async () => {
    vi.useFakeTimers();
    let answer: (depth: number) => void = () => undefined;
    const depths = new QueueDepths(() => new Promise<number>((resolve) => (answer = resolve)), 10);
    const first = depths.current('m');
    answer(0);
    expect(await first).toBe(0);
    vi.advanceTimersByTime(20);
    expect(depths.current('m')).toBe(0);
    // The refresh is sent; three enqueues of a burst finish before Redis answers it with 0.
    await vi.advanceTimersByTimeAsync(0);
    depths.added('m');
    depths.added('m');
    depths.added('m');
    answer(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(depths.current('m')).toBe(3);
  });
});
