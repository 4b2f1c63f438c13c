import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@infergate/stack';
import { CHUNK_GAP_SAMPLE } from '../../ingress/src/metricsChunkGaps.js';
import { chat } from '../support/gate.js';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { waitFor } from '../support/services.js';

/*
 * Prometheus metrics moving as requests flow: one ingress and one dispatcher
 * process, and a simulated llama.cpp engine with a single slot, so a long
 * stream holding it makes the next requests wait in the queue.
 */

const MODEL = 'obs-model';
let fleet: TestFleet;
let ingressUrl: string;
let dispatcherMetricsUrl: string;

beforeAll(async () => {
  const statusPort = await freePort();
  fleet = await startTestFleet({
    // Long natural answers at 20 ms a token: a stream without max_tokens holds the slot for 20 s.
    sims: [{ kind: 'llamacpp', slots: 1, ttftMs: 10, itlMs: 20, tokens: 1000, modelId: MODEL }],
    dispatcherEnv: { STATUS_PORT: String(statusPort), STATUS_HOST: '127.0.0.1' },
  });
  ingressUrl = fleet.ingresses[0]!.url;
  dispatcherMetricsUrl = `http://127.0.0.1:${statusPort}/metrics`;
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
});

type Labels = Readonly<Record<string, string>>;

/** A scrape: sums the samples of `name` whose labels include `labels`. */
class Scrape {
  constructor(readonly text: string) {}

  value(name: string, labels: Labels = {}): number {
    let sum = 0;
    for (const line of this.text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const found = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
      if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(m[3]);
    }
    return sum;
  }
}

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return new Scrape(await res.text());
}

const ingressScrape = () => scrape(`${ingressUrl}/metrics`);
const dispatcherScrape = () => scrape(dispatcherMetricsUrl);

function post(body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${ingressUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

const waiting = (s: Scrape) =>
  s.value('infergate_queue_jobs', { model: MODEL, state: 'waiting' }) + s.value('infergate_queue_jobs', { model: MODEL, state: 'prioritized' });

describe('ingress and dispatcher metrics', () => {
  it('record a streamed request: status, time to first token, queue wait, chunk gaps, bytes', async () => {
    const [before, dBefore] = await Promise.all([ingressScrape(), dispatcherScrape()]);
    const res = await post({ model: MODEL, stream: true, max_tokens: 12, messages: [{ role: 'user', content: 'hi' }] });
    const text = await res.text();
    expect(res.status).toBe(200);
    const after = await ingressScrape();

    const delta = (name: string, labels: Labels = {}) => after.value(name, labels) - before.value(name, labels);
    expect(delta('infergate_requests_total', { route: '/v1/chat/completions', status: '200', model: MODEL })).toBe(1);
    expect(delta('infergate_time_to_first_token_seconds_count', { model: MODEL, stream: 'true' })).toBe(1);
    expect(delta('infergate_queue_wait_seconds_count', { model: MODEL })).toBe(1);
    expect(delta('infergate_request_duration_seconds_count', { model: MODEL, stream: 'true' })).toBe(1);
    expect(delta('infergate_relayed_bytes_total', { model: MODEL })).toBe(Buffer.byteLength(text));
    const chunks = delta('infergate_relayed_chunks_total', { model: MODEL });
    expect(chunks).toBeGreaterThanOrEqual(12);
    // The gap after chunk 1, 1 + CHUNK_GAP_SAMPLE, … (counting from 0) is timed; tokens come every 20 ms.
    const gaps = delta('infergate_inter_chunk_gap_seconds_count', { model: MODEL });
    expect(gaps).toBe(Math.floor((chunks - 3) / CHUNK_GAP_SAMPLE) + 1);
    expect(delta('infergate_inter_chunk_gap_seconds_sum', { model: MODEL }) / gaps).toBeGreaterThan(0.002);
    expect(after.value('infergate_inter_chunk_gap_seconds_bucket', { model: MODEL, le: '+Inf' })).toBe(
      after.value('infergate_inter_chunk_gap_seconds_count', { model: MODEL }),
    );
    // TTFT includes at least the engine's 10 ms prefill.
    expect(delta('infergate_time_to_first_token_seconds_sum', { model: MODEL })).toBeGreaterThanOrEqual(0.01);

    await waitFor(async () => {
      const d = await dispatcherScrape();
      return d.value('infergate_dispatcher_jobs_total', { model: MODEL, outcome: 'served' }) === dBefore.value('infergate_dispatcher_jobs_total', { model: MODEL, outcome: 'served' }) + 1;
    }, 5_000, 'dispatcher served count');
    const dAfter = await dispatcherScrape();
    expect(dAfter.value('infergate_dispatcher_pulls_total', { model: MODEL }) - dBefore.value('infergate_dispatcher_pulls_total', { model: MODEL })).toBe(1);
    expect(dAfter.value('infergate_engine_slots', { dispatcher: 'd0', engine_kind: 'llamacpp' })).toBe(1);
  });

  it('count refusals before queueing under their route, without a model', async () => {
    const before = await ingressScrape();
    expect((await post('{not json')).status).toBe(400);
    const after = await ingressScrape();
    const labels = { route: '/v1/chat/completions', status: '400', model: '' };
    expect(after.value('infergate_requests_total', labels) - before.value('infergate_requests_total', labels)).toBe(1);
  });

  it('show jobs waiting while the only slot is busy, then the slot and queue draining', async () => {
    const before = await Promise.all([ingressScrape(), dispatcherScrape()]);
    const hold = new AbortController();
    const long = await post({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'long' }] }, hold.signal);
    expect(long.status).toBe(200);
    const queued = [chat(ingressUrl, MODEL, 2), chat(ingressUrl, MODEL, 2)];

    const busy = await waitFor(async () => {
      const s = await ingressScrape();
      return waiting(s) === 2 && s.value('infergate_queue_oldest_job_age_seconds', { model: MODEL }) > 0 ? s : undefined;
    }, 10_000, 'two jobs waiting');
    expect(busy.value('infergate_queue_jobs', { model: MODEL, state: 'active' })).toBe(1);
    expect(busy.value('infergate_open_requests')).toBe(3);
    expect(busy.value('infergate_redis_connected', { connection: 'commands' })).toBe(1);
    expect(busy.value('infergate_redis_connected', { connection: 'replies' })).toBe(1);
    const d = await dispatcherScrape();
    expect(d.value('infergate_engine_slots')).toBe(1);
    expect(d.value('infergate_engine_slots_busy')).toBe(1);
    expect(d.value('infergate_engine_slots_free')).toBe(0);
    expect(d.value('infergate_dispatcher_in_flight')).toBe(1);
    expect(d.value('infergate_engine_ready')).toBe(1);
    expect(d.value('infergate_redis_connected', { connection: 'control' })).toBe(1);

    // The client of the long stream leaves: its job is cancelled and the queue drains.
    hold.abort();
    await long.body?.cancel().catch(() => undefined);
    expect((await Promise.all(queued)).map((a) => a.status)).toEqual([200, 200]);
    const after = await waitFor(async () => {
      const s = await ingressScrape();
      return waiting(s) === 0 && s.value('infergate_open_requests') === 0 ? s : undefined;
    }, 5_000, 'queue drained');
    expect(after.value('infergate_queue_oldest_job_age_seconds', { model: MODEL })).toBe(0);
    const cancelled = { route: '/v1/chat/completions', status: '499', model: MODEL };
    expect(after.value('infergate_requests_total', cancelled) - before[0].value('infergate_requests_total', cancelled)).toBe(1);
    expect(after.value('infergate_request_errors_total', { model: MODEL, code: 'cancelled' })).toBe(1);
    await waitFor(async () => (await dispatcherScrape()).value('infergate_dispatcher_jobs_total', { outcome: 'cancelled' }) === before[1].value('infergate_dispatcher_jobs_total', { outcome: 'cancelled' }) + 1, 5_000, 'dispatcher cancel count');
  });
});
