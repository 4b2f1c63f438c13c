import { expect, it } from 'vitest';
import { runChaos } from '../support/chaos.js';

it('survives dead engines, a SIGKILLed dispatcher and a Redis restart under streaming load', async () => {
  const report = await runChaos({ seconds: 30, concurrency: 12 });
  process.stdout.write(`chaos: ${JSON.stringify(report, null, 2)}\n`);
  expect(report.hung).toBe(0);
  expect(report.corrupted).toBe(0);
  expect(report.completed).toBeGreaterThan(report.requests / 2);
  expect(report.afterChaosOk).toBe(true);
}, 120_000);
