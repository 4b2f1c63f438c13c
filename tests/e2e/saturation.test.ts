import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type Call } from '../../infra/sim/src/testing/client.js';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { FAST_POLL } from '../support/gate.js';
import { waitFor } from '../support/services.js';

/*
 * The autoscaling gauges of the ingress, end to end: one engine of two
 * slots, two long answers holding them, three more requests queued behind
 * them. infergate_pool_saturation goes above 1 while they wait and back to
 * 0 once the queue has drained and the engine is idle.
 */

const MODEL = 'pool-model';

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({
    // Long answers unless max_tokens caps them: the holders run until aborted.
    sims: [{ kind: 'llamacpp', modelId: MODEL, slots: 2, ttftMs: 5, itlMs: 20, tokens: 2000 }],
    dispatcherEnv: FAST_POLL,
  });
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

/** The value of one gauge series of the ingress, or undefined when it is absent. */
async function gauge(series: string): Promise<number | undefined> {
  const text = await (await fetch(`${fleet.ingresses[0]!.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

const chat = (maxTokens?: number): Call =>
  call(fleet.ingresses[0]!.url, '/v1/chat/completions', {
    body: { model: MODEL, stream: true, ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }), messages: [{ role: 'user', content: 'hi' }] },
  });

describe('pool saturation', () => {
  it('rises above 1 while requests queue behind busy slots and falls to 0 once the queue drains', async () => {
    const saturation = `infergate_pool_saturation{model="${MODEL}"}`;
    await waitFor(async () => (await gauge(saturation)) === 0, 20_000, 'an idle pool');
    const holders = [chat(), chat()];
    for (const h of holders) h.done.catch(() => undefined);
    await waitFor(() => fleet.sims[0]!.stats().processing === 2, 20_000, 'both slots held');
    const queued = [chat(2), chat(2), chat(2)];
    try {
      // (2 busy + 3 waiting) / 2 slots, once the dispatcher's heartbeat and the queue snapshot show both.
      await waitFor(async () => (await gauge(saturation)) === 2.5, 20_000, `saturation 2.5 (now ${await gauge(saturation)})`);
      expect(await gauge(`infergate_pool_slots{model="${MODEL}",state="busy"}`)).toBe(2);
      expect(await gauge(`infergate_pool_slots{model="${MODEL}",state="free"}`)).toBe(0);
      expect(await gauge(`infergate_queue_oldest_job_age_seconds{model="${MODEL}"}`)).toBeGreaterThan(0);
    } finally {
      for (const h of holders) h.abort();
    }
    const answers = await Promise.all(queued.map((q) => q.done));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    await waitFor(async () => (await gauge(saturation)) === 0, 20_000, `saturation back to 0 (now ${await gauge(saturation)})`);
    expect(await gauge(`infergate_queue_oldest_job_age_seconds{model="${MODEL}"}`)).toBe(0);
  });
});
