import { describe, expect, it } from 'vitest';
import { RunningJobs } from './runningJobs.js';

describe('running jobs', () => {
  it('a drain wait ends when the last job ends, not on a poll', async () => {
    const running = new RunningJobs();
    running.begin('a');
    running.begin('b');
    const idle = running.whenIdle(60_000);
    running.end('a');
    const order: string[] = [];
    void idle.then((v) => order.push(`idle:${v}`));
    await Promise.resolve();
    order.push('b still running');
    running.end('b');
    expect(await idle).toBe(true);
    expect(order).toEqual(['b still running', 'idle:true']);
  });

  it('a drain wait gives up after its budget while a job still runs', async () => {
    const running = new RunningJobs();
    running.begin('a');
    expect(await running.whenIdle(10)).toBe(false);
    expect(running.size).toBe(1);
  });

  it('aborts a job with the first reason given, and a shutdown every job still running', () => {
    const running = new RunningJobs();
    const a = running.begin('a');
    const b = running.begin('b');
    running.abort('a', 'operator_cancelled');
    running.abortAll('shutting_down');
    running.abort('missing', 'client_disconnected');
    expect([a.reason, a.signal.aborted]).toEqual(['operator_cancelled', true]);
    expect([b.reason, b.signal.aborted]).toEqual(['shutting_down', true]);
  });
});
