import { createConnection } from 'node:net';
import OpenAI from 'openai';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisNames } from '@infergate/shared';
import type { SimulatorHandle } from '@infergate/sim';
import { freePort } from '@infergate/stack';
import { call, type Call } from '../../infra/sim/src/testing/client.js';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { FAST_POLL, waitForBackend } from '../support/gate.js';
import { startIngressProcess, waitFor, waitForBackends, type IngressProcess } from '../support/services.js';

/*
 * Cache affinity end to end: three simulated llama.cpp engines (2 slots), a
 * dispatcher process beside each, two ingress processes sharing one Redis.
 * Which engine served a request is read from the engines' own counters, so
 * requests here run one at a time. Run with AFFINITY_ENABLED=false in the
 * environment and the affinity assertions fail (the pull gate then spreads
 * a conversation's turns over the engines).
 */

const MODEL = 'affinity-model';
/** The steal bound of this fleet; long enough that "at once" and "at the bound" are far apart. */
const MAX_WAIT_MS = 2_000;
const MAIN_KEY = 'main-key-0123456789abcdef';
const SOLO_KEY = 'solo-key-0123456789abcdef';
const ADMIN_KEY = 'admin-key-0123456789abcdef';

const AFFINITY = process.env.AFFINITY_ENABLED ?? 'true';

let fleet: TestFleet;
let clients: OpenAI[];
let redis: Redis;

beforeAll(async () => {
  fleet = await startTestFleet({
    sims: Array.from({ length: 3 }, () => ({ kind: 'llamacpp' as const, slots: 2, ttftMs: 5, itlMs: 20, tokens: 1000, modelId: MODEL })),
    ingresses: 2,
    dispatcherEnv: { ...FAST_POLL, JOB_LOCK_SECONDS: '2', STALLED_CHECK_SECONDS: '1', AFFINITY_ENABLED: AFFINITY },
    ingressEnv: {
      API_KEYS: `main:${MAIN_KEY},solo:${SOLO_KEY}`,
      ADMIN_API_KEY: ADMIN_KEY,
      KEY_POLICIES: JSON.stringify({ solo: { concurrent: 1 } }),
      AFFINITY_ENABLED: AFFINITY,
      AFFINITY_MAX_WAIT_MS: String(MAX_WAIT_MS),
      // The default 2 ms budget is for a quiet Redis; on this shared 2-core machine a loaded
      // moment can stall a round trip far longer, and a timed-out lookup is a (correct) miss.
      AFFINITY_LOOKUP_TIMEOUT_MS: '1000',
    },
  });
  clients = fleet.ingresses.map((i) => new OpenAI({ baseURL: `${i.url}/v1`, apiKey: MAIN_KEY, maxRetries: 0 }));
  // A dispatcher opens its lanes before it first registers, so the fleet being up means they exist.
  redis = new Redis(fleet.redis.url);
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await fleet?.stop();
});

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

/** A conversation whose system prompt no other one shares, long enough for several prefix blocks. */
function conversation(name: string): Message[] {
  return [{ role: 'system', content: `You are assistant ${name}. ${'Keep answers short and precise. '.repeat(40)}` }];
}

/** Index of the engine whose completed count grew while `run` ran (requests here run one at a time). */
async function servedBy<T>(run: () => Promise<T>): Promise<{ engine: number; result: T; ms: number }> {
  const before = fleet.sims.map((s) => s.stats().completed);
  const started = performance.now();
  const result = await run();
  const ms = performance.now() - started;
  const engine = await waitFor(() => {
    const grown = fleet.sims.map((s, i) => s.stats().completed - before[i]!);
    const i = grown.findIndex((g) => g > 0);
    return i >= 0 ? i + 1 : undefined;
  }, 5_000, 'the serving engine');
  return { engine: engine - 1, result, ms };
}

/** One turn: the conversation so far plus a new user message, and the answer appended. */
async function turn(client: OpenAI, messages: Message[], text: string, extra: Record<string, unknown> = {}) {
  messages.push({ role: 'user', content: `${text} ${'Please consider the context above. '.repeat(4)}` });
  const served = await servedBy(() => client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, ...extra } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming));
  messages.push({ role: 'assistant', content: served.result.choices[0]!.message.content ?? '' });
  return served;
}

/** Long streams (1,000 tokens, 20 s) sent to an engine directly, past infergate, each holding one slot until released. */
async function holdSlots(sim: SimulatorHandle, n: number): Promise<Call[]> {
  const held: Call[] = [];
  for (let i = 0; i < n; i++) {
    const c = call(sim.url, '/v1/chat/completions', { body: { model: MODEL, stream: true, messages: [{ role: 'user', content: 'hold' }] } });
    c.done.catch(() => undefined);
    held.push(c);
  }
  await waitFor(() => sim.stats().processing >= n, 10_000, 'held slots');
  return held;
}

async function release(held: readonly Call[], sims: readonly SimulatorHandle[]): Promise<void> {
  for (const c of held) c.abort();
  await waitFor(() => sims.every((s) => s.stats().processing === 0), 10_000, 'slots released');
  // Both ingresses' registry views, or the next request through the other one sees a busy engine.
  await Promise.all(fleet.ingresses.flatMap((ing) => sims.map((s) => waitForBackend(ing.url, s.url, (d) => d.outside_load === 0, 'no outside load'))));
}

/** Every engine full in both ingresses' registry views (a request through either must see it: else the imbalance guard sends it elsewhere). */
async function saturatedEverywhere(): Promise<void> {
  await Promise.all(fleet.ingresses.flatMap((ing) => fleet.sims.map((s) => waitForBackend(ing.url, s.url, (d) => d.outside_load === 2, 'saturated'))));
}

/** Sum of the samples whose line starts with `series` (a name, optionally with its first labels). */
async function metric(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(series))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/** Jobs waiting in the model's shared queue. */
async function queueDepth(): Promise<number> {
  const q = new Queue(redisNames(fleet.prefix).queueName(MODEL), { connection: redis, prefix: fleet.prefix });
  try {
    return await q.getJobCountByTypes('waiting', 'prioritized');
  } finally {
    await q.close();
  }
}

function lane(engine: number): Queue {
  return new Queue(redisNames(fleet.prefix).laneQueueName(MODEL, `d${engine}`), { connection: redis, prefix: fleet.prefix });
}

/**
 * Every command Redis runs from now on, as [name, first argument], read off a raw MONITOR connection
 * (ioredis's own monitor mode can mistake early output for a reply).
 */
async function monitorCommands(url: string): Promise<{ readonly commands: Array<[string, string]>; close(): void }> {
  const { hostname, port } = new URL(url);
  const socket = createConnection({ host: hostname, port: Number(port) });
  const commands: Array<[string, string]> = [];
  let buffered = '';
  let started: () => void = () => undefined;
  const ok = new Promise<void>((resolve) => (started = resolve));
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\r\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === '+OK') started();
      const m = /^\+[\d.]+ \[[^\]]*\] "([^"]*)"(?: "((?:[^"\\]|\\.)*)")?/.exec(line);
      if (m) commands.push([m[1]!.toLowerCase(), m[2] ?? '']);
    }
  });
  socket.write('MONITOR\r\n');
  await ok;
  return { commands, close: () => socket.destroy() };
}

describe('cache affinity', () => {
  it("sends a conversation's later turns to the engine that served its first, through either ingress", async () => {
    const homes: number[][] = [];
    for (let c = 0; c < 6; c++) {
      const messages = conversation(`c${c}`);
      const engines: number[] = [];
      for (let t = 0; t < 4; t++) engines.push((await turn(clients[t % 2]!, messages, `question ${t}`)).engine);
      homes.push(engines);
    }
    const decisions = async () => (await Promise.all(fleet.ingresses.map(async (i) => (await (await fetch(`${i.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('infergate_affinity_requests_total')).join('\n')))).join('\n');
    expect(homes.map((engines) => engines.every((e) => e === engines[0])), `${JSON.stringify(homes)}\n${await decisions()}`).toEqual(Array(6).fill(true));
    expect(fleet.sims.map((s) => s.stats().deferrals)).toEqual([0, 0, 0]);
    const hits = await metric(fleet.ingresses[0]!.url, 'infergate_affinity_requests_total{model="affinity-model",decision="hit"');
    expect(hits).toBeGreaterThan(0);
  });

  it('skips the lookup of a prompt no engine has served, and an ingress that joins later knows the prefixes served before it', async () => {
    const knowsHeads = async (url: string) => ((await (await fetch(`${url}/metrics`)).text()).includes(`infergate_affinity_known_heads{model="${MODEL}"}`) ? true : undefined);
    const notIndexed = (url: string) => metric(url, `infergate_affinity_requests_total{model="${MODEL}",decision="miss",reason="not_indexed"}`);
    const lookups = (url: string) => metric(url, 'infergate_affinity_lookup_seconds_count');
    // An ingress loads its copy of the model's heads at its first request for the model.
    const loadCopy = async (client: OpenAI, url: string) => {
      await turn(client, conversation(`opens-the-copy-${url}`), 'hello');
      await waitFor(() => knowsHeads(url), 10_000, `${url} trusting its copy of the heads`);
    };
    const first = fleet.ingresses[0]!.url;
    await loadCopy(clients[0]!, first);
    const [skippedBefore, lookupsBefore] = [await notIndexed(first), await lookups(first)];
    const messages = conversation('joined-later');
    const opening = await turn(clients[0]!, messages, 'first');
    expect([(await notIndexed(first)) - skippedBefore, (await lookups(first)) - lookupsBefore]).toEqual([1, 0]);
    let late: IngressProcess | undefined;
    try {
      late = await startIngressProcess({ ...fleet.env, API_KEYS: `main:${MAIN_KEY}`, AFFINITY_MAX_WAIT_MS: String(MAX_WAIT_MS), AFFINITY_LOOKUP_TIMEOUT_MS: '1000' });
      const client = new OpenAI({ baseURL: `${late.url}/v1`, apiKey: MAIN_KEY, maxRetries: 0 });
      await waitForBackends(late.url, 3);
      await loadCopy(client, late.url);
      const next = await turn(client, messages, 'second');
      expect(next.engine).toBe(opening.engine);
      expect(await notIndexed(late.url)).toBe(0);
    } finally {
      await late?.stop();
    }
  });

  it('stores the index entries before the answer can reach the client, so a follow-up sent at once finds its engine', async () => {
    // MONITOR lists commands in the order Redis ran them. A non-streamed answer is head, body and end
    // in one burst: the entries must still be stored before the PUBLISH that carries its end.
    const monitor = await monitorCommands(fleet.redis.url);
    try {
      await turn(clients[0]!, conversation('ordered'), 'first', { prompt_cache_key: 'ordered-session' });
      // Redis feeds a busy monitor in slices, so its view can lag: a command sent now, after the answer's
      // end was published, marks where the feed has caught up with everything that ran before it.
      await redis.echo('monitor-caught-up');
      await waitFor(() => monitor.commands.some(([name, arg]) => name === 'echo' && arg === 'monitor-caught-up') || undefined, 5_000, 'the monitor caught up');
      const stored = () => monitor.commands.findIndex(([name, key]) => name === 'set' && key.includes(':aff:') && key.includes(':s.'));
      await waitFor(() => stored() >= 0 || undefined, 5_000, 'the session entry written');
      const ends = monitor.commands.flatMap(([name, channel], i) => (/^s?publish$/.test(name) && channel.includes(':reply:') ? [i] : []));
      expect(ends.length).toBeGreaterThan(0);
      expect(stored()).toBeLessThan(ends.at(-1)!);
    } finally {
      monitor.close();
    }
  });

  it("counts the engine's own cache figures (llama.cpp timings.cache_n / prompt_n) from the end of its answers", async () => {
    const port = await freePort();
    await fleet.dispatchers[0]!.stop('SIGTERM');
    fleet.startDispatcher(0, { ...FAST_POLL, JOB_LOCK_SECONDS: '2', STALLED_CHECK_SECONDS: '1', STATUS_PORT: String(port) });
    await waitForBackends(fleet.ingresses[0]!.url, 3);
    // The turns go through both ingresses: each must know the new process (its cache epoch), or the index
    // entry it writes reads as an old epoch's there. A heartbeat from after this moment is the new process's.
    const restarted = Date.now();
    await Promise.all(fleet.ingresses.map((ing) => waitForBackend(ing.url, fleet.sims[0]!.url, (d) => d.ready && Number(d.last_heartbeat) * 1000 > restarted, 'the restarted dispatcher')));
    const dispatcherMetric = (name: string) => metric(`http://127.0.0.1:${port}`, name);
    // The other engines are full, so the first turn can only start on engine 0.
    const held = await Promise.all([1, 2].map((i) => holdSlots(fleet.sims[i]!, 2)));
    try {
      await Promise.all(fleet.ingresses.flatMap((ing) => [1, 2].map((i) => waitForBackend(ing.url, fleet.sims[i]!.url, (d) => d.outside_load === 2, 'saturated'))));
      const messages = conversation('figures');
      expect((await turn(clients[0]!, messages, 'first')).engine).toBe(0);
      const hitsBefore = await dispatcherMetric('infergate_engine_prompt_tokens_total{model="affinity-model",cache="hit"');
      expect((await turn(clients[1]!, messages, 'second')).engine).toBe(0);
      expect(await dispatcherMetric('infergate_engine_prompt_tokens_total{model="affinity-model",cache="hit"')).toBeGreaterThan(hitsBefore);
      expect(await dispatcherMetric('infergate_engine_prompt_tokens_total{model="affinity-model",cache="miss"')).toBeGreaterThan(0);
      expect(await dispatcherMetric('infergate_dispatcher_affinity_pulls_total{model="affinity-model",queue="lane"')).toBeGreaterThan(0);
    } finally {
      await release(held.flat(), [fleet.sims[1]!, fleet.sims[2]!]);
    }
  });

  it('keeps a session (prompt_cache_key) on one engine across ingress nodes, even with prompts too short to hash', async () => {
    const first = await servedBy(() => clients[0]!.chat.completions.create({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: 'hi' }], prompt_cache_key: 'session-A' }));
    for (let i = 0; i < 3; i++) {
      const again = await servedBy(() => clients[(i + 1) % 2]!.chat.completions.create({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: `hi ${i}` }], prompt_cache_key: 'session-A' }));
      expect(again.engine).toBe(first.engine);
    }
  });

  it('sends the next turn elsewhere promptly while its engine is saturated and another has room', async () => {
    const messages = conversation('busy');
    const home = (await turn(clients[0]!, messages, 'first')).engine;
    expect((await turn(clients[1]!, messages, 'second')).engine).toBe(home);
    const sim = fleet.sims[home]!;
    const held = await holdSlots(sim, 2);
    try {
      await waitForBackend(fleet.ingresses[0]!.url, sim.url, (d) => d.outside_load === 2, 'owner saturated');
      const stolenWait = () => metric(fleet.ingresses[0]!.url, 'infergate_affinity_lane_wait_seconds_sum{model="affinity-model",result="stolen"');
      const waitedBefore = await stolenWait();
      const elsewhere = await turn(clients[0]!, messages, 'third');
      expect(elsewhere.engine).not.toBe(home);
      // At these engines' 0.3 ms a token, the cached prefix is worth ~0.1 s of waiting in the lane: far below the bound.
      expect((await stolenWait()) - waitedBefore).toBeLessThan(MAX_WAIT_MS / 4 / 1000);
      expect(elsewhere.ms).toBeLessThan(MAX_WAIT_MS);
      // The engine that served the longest prefix is now the one to go back to.
      expect((await turn(clients[1]!, messages, 'fourth')).engine).toBe(elsewhere.engine);
    } finally {
      await release(held, [sim]);
    }
    expect(sim.stats().deferrals).toBe(0);
  });

  it('waits for its saturated engine when a slot there frees sooner than the prefill its cache saves', async () => {
    // Engines that take 20 ms per uncached prompt token: the ~1,300 characters the owner holds save ~6 s of
    // prefill, so the next turn may wait the whole bound for it although other engines are idle (with the
    // measured cost still diluted by this dispatcher's earlier, faster answers, at least ~2 s).
    const usual = fleet.sims.map((s) => s.configure({}).prefillMsPerToken);
    for (const s of fleet.sims) s.configure({ prefillMsPerToken: 20 });
    const messages = conversation('patient');
    const held: Call[] = [];
    try {
      const home = (await turn(clients[0]!, messages, 'first')).engine;
      const sim = fleet.sims[home]!;
      await waitForBackend(fleet.ingresses[0]!.url, sim.url, (d) => Number(d.prefill_ms_per_token) > 6, 'measured prefill cost');
      held.push(...(await holdSlots(sim, 2)));
      await waitForBackend(fleet.ingresses[0]!.url, sim.url, (d) => d.outside_load === 2, 'owner saturated');
      const busyHitsBefore = await metric(fleet.ingresses[0]!.url, 'infergate_affinity_requests_total{model="affinity-model",decision="hit",reason="owner_busy"');
      const homeLane = lane(home);
      try {
        const pending = turn(clients[0]!, messages, 'second');
        await waitFor(async () => (await homeLane.getJobCountByTypes('waiting', 'prioritized')) === 1, 5_000, 'job waiting in the busy owner\'s lane');
        held.shift()!.abort();
        const served = await pending;
        expect(served.engine).toBe(home);
        expect(served.ms).toBeLessThan(MAX_WAIT_MS * 2);
      } finally {
        await homeLane.close();
      }
      expect(await metric(fleet.ingresses[0]!.url, 'infergate_affinity_requests_total{model="affinity-model",decision="hit",reason="owner_busy"')).toBe(busyHitsBefore + 1);
      expect(sim.stats().deferrals).toBe(0);
    } finally {
      fleet.sims.forEach((s, i) => s.configure({ prefillMsPerToken: usual[i]! }));
      await release(held, fleet.sims);
    }
  });

  it('serves the turn elsewhere at the bound when its engine stops pulling, and at once once the engine is known gone', async () => {
    const messages = conversation('frozen');
    const home = (await turn(clients[0]!, messages, 'first')).engine;
    const owner = fleet.dispatchers[home]!;
    const stealsBefore = await metric(fleet.ingresses[1]!.url, 'infergate_affinity_steals_total');
    owner.child.kill('SIGSTOP');
    try {
      // Still in the registry (its heartbeat has not expired): the turn waits in its lane, then is stolen.
      const stolen = await turn(clients[1]!, messages, 'second');
      expect(stolen.engine).not.toBe(home);
      expect(stolen.ms).toBeGreaterThanOrEqual(MAX_WAIT_MS - 50);
      expect(await metric(fleet.ingresses[1]!.url, 'infergate_affinity_steals_total')).toBe(stealsBefore + 1);
    } finally {
      owner.child.kill('SIGCONT');
    }
    // Freeze again until the registry drops it: then nobody waits for it.
    owner.child.kill('SIGSTOP');
    try {
      await waitFor(async () => {
        const res = await fetch(`${fleet.ingresses[0]!.url}/health`);
        const body = (await res.json()) as { details: Array<{ dispatcher: string }> };
        return !body.details.some((d) => d.dispatcher === `d${home}`);
      }, 20_000, 'frozen dispatcher gone from the registry');
      const gone = await turn(clients[0]!, messages, 'third');
      expect(gone.engine).not.toBe(home);
      expect(gone.ms).toBeLessThan(MAX_WAIT_MS / 2);
    } finally {
      owner.child.kill('SIGCONT');
    }
    await waitForBackends(fleet.ingresses[0]!.url, 3);
  });

  it('frees everything when a request is cancelled in a lane: the lane empties, the engine never sees it, the key lease returns', async () => {
    const solo = new OpenAI({ baseURL: `${fleet.ingresses[0]!.url}/v1`, apiKey: SOLO_KEY, maxRetries: 0 });
    const messages = conversation('cancelled');
    const home = (await turn(solo, messages, 'first')).engine;
    // Every engine full: the imbalance guard has nowhere better, so the next turn waits in its lane.
    const held = await Promise.all(fleet.sims.map((s) => holdSlots(s, 2)));
    const requestsBefore = fleet.sims.map((s) => s.stats().requests);
    const homeLane = lane(home);
    try {
      await saturatedEverywhere();
      const abort = new AbortController();
      messages.push({ role: 'user', content: 'this one is cancelled' });
      const pending = solo.chat.completions.create({ model: MODEL, messages, max_tokens: 4 }, { signal: abort.signal }).catch((err: Error) => err);
      await waitFor(async () => (await homeLane.getJobCountByTypes('waiting', 'prioritized')) === 1, 5_000, 'job in the lane');
      // Operators see the lane and the job in it.
      const admin = (path: string) => fetch(`${fleet.ingresses[1]!.url}/admin/api${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }).then((r) => r.json());
      const queues = (await admin('/queues')) as { data: Array<{ model: string; lanes: Array<{ dispatcher: string; counts: Record<string, number> }> }> };
      const lanes = queues.data.find((q) => q.model === MODEL)!.lanes;
      expect(lanes.map((l) => l.dispatcher)).toEqual(['d0', 'd1', 'd2']);
      const counts = lanes.find((l) => l.dispatcher === `d${home}`)!.counts;
      expect((counts.waiting ?? 0) + (counts.prioritized ?? 0)).toBe(1);
      const jobs = (await admin(`/queues/${MODEL}/jobs`)) as { data: Array<{ lane: string | null; keyId: string | null }> };
      expect(jobs.data).toEqual([expect.objectContaining({ lane: `d${home}`, keyId: 'solo' })]);
      abort.abort();
      expect(await pending).toBeInstanceOf(Error);
      await waitFor(async () => (await homeLane.getJobCountByTypes('waiting', 'prioritized', 'active')) === 0, 5_000, 'lane empty');
      expect(fleet.sims.map((s) => s.stats().requests)).toEqual(requestsBefore);
    } finally {
      await release(held.flat(), fleet.sims);
      await homeLane.close();
    }
    // The key's one concurrency slot is free again: a request with it is served.
    messages.pop();
    const next = await turn(solo, messages, 'after the cancel');
    expect(next.result.choices[0]!.message.content).toBeTruthy();
    expect(fleet.sims.map((s) => s.stats().requests).reduce((a, b) => a + b)).toBe(requestsBefore.reduce((a, b) => a + b) + 1);
  });

  it('gives a slot that frees to the lane before older jobs of the shared queue', async () => {
    const messages = conversation('first in line');
    const home = (await turn(clients[0]!, messages, 'first')).engine;
    const held = await Promise.all(fleet.sims.map((s) => holdSlots(s, 2)));
    const homeLane = lane(home);
    try {
      await saturatedEverywhere();
      const finished: string[] = [];
      // Too short to hash and no session: the shared queue, first.
      const shared = clients[0]!.chat.completions.create({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: 'older' }] }).then(() => finished.push('shared'));
      await waitFor(async () => (await queueDepth()) === 1, 5_000, 'shared job queued');
      messages.push({ role: 'user', content: 'the lane goes first' });
      const laned = clients[1]!.chat.completions.create({ model: MODEL, messages, max_tokens: 2 }).then(() => finished.push('lane'));
      await waitFor(async () => (await homeLane.getJobCountByTypes('waiting', 'prioritized')) === 1, 5_000, 'job in the lane');
      held[home]![0]!.abort();
      await laned;
      expect(finished).toEqual(['lane']);
      await release(held.flat(), fleet.sims);
      await shared;
    } finally {
      await release(held.flat(), fleet.sims);
      await homeLane.close();
    }
  });

  it("hands a draining dispatcher's lane to the shared queue at once, where another engine serves it", async () => {
    const messages = conversation('drained');
    const home = (await turn(clients[0]!, messages, 'first')).engine;
    const held = await Promise.all(fleet.sims.map((s) => holdSlots(s, 2)));
    const homeLane = lane(home);
    try {
      await saturatedEverywhere();
      messages.push({ role: 'user', content: 'waiting while my engine drains' });
      const pending = servedBy(() => clients[1]!.chat.completions.create({ model: MODEL, messages, max_tokens: 2 }));
      await waitFor(async () => (await homeLane.getJobCountByTypes('waiting', 'prioritized')) === 1, 5_000, 'job in the lane');
      const stopping = performance.now();
      const stopped = fleet.dispatchers[home]!.stop('SIGTERM');
      await waitFor(async () => (await queueDepth()) === 1 && (await homeLane.getJobCountByTypes('waiting', 'prioritized')) === 0, 10_000, 'job in the shared queue');
      expect(performance.now() - stopping).toBeLessThan(MAX_WAIT_MS);
      await stopped;
      for (const c of held.filter((_, i) => i !== home).flat()) c.abort();
      const served = await pending;
      expect(served.engine).not.toBe(home);
    } finally {
      fleet.startDispatcher(home, { ...FAST_POLL, JOB_LOCK_SECONDS: '2', STALLED_CHECK_SECONDS: '1' });
      await waitForBackends(fleet.ingresses[0]!.url, 3);
      await release(held.flat(), fleet.sims);
      await homeLane.close();
    }
  });

  it('sends a lane job its engine failed before answering to another engine, not back to the lane', async () => {
    const messages = conversation('failing');
    const home = (await turn(clients[0]!, messages, 'first')).engine;
    fleet.sims[home]!.configure({ failStatus: 503, faultCount: 1 });
    const again = await turn(clients[1]!, messages, 'second');
    expect(fleet.sims[home]!.stats().faults).toBe(1);
    expect(again.engine).not.toBe(home);
    expect(again.result.choices[0]!.message.content).toBeTruthy();
  });

  it('counts the lane wait against the queue deadline', async () => {
    let strict: IngressProcess | undefined;
    const held = await Promise.all(fleet.sims.map((s) => holdSlots(s, 2)));
    try {
      strict = await startIngressProcess({ ...fleet.env, API_KEYS: `main:${MAIN_KEY}`, QUEUE_WAIT_TIMEOUT_SECONDS: '1', AFFINITY_MAX_WAIT_MS: '10000', AFFINITY_LOOKUP_TIMEOUT_MS: '1000' });
      const client = new OpenAI({ baseURL: `${strict.url}/v1`, apiKey: MAIN_KEY, maxRetries: 0 });
      await Promise.all(fleet.sims.map((s) => waitForBackend(strict!.url, s.url, (d) => d.outside_load === 2, 'saturated')));
      const started = performance.now();
      const err = (await client.chat.completions.create({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: 'late' }], prompt_cache_key: 'session-A' }).catch((e: unknown) => e)) as { status?: number };
      expect(err.status).toBe(503);
      expect(performance.now() - started).toBeLessThan(5_000);
      const lanes = [0, 1, 2].map(lane);
      await waitFor(async () => (await Promise.all(lanes.map((l) => l.getJobCountByTypes('waiting', 'prioritized')))).every((n) => n === 0), 5_000, 'lanes empty');
      await Promise.all(lanes.map((l) => l.close()));
    } finally {
      await release(held.flat(), fleet.sims);
      await strict?.stop();
    }
  });

  it('serves elsewhere a lane job whose dispatcher was killed after taking it, before its engine answered', async () => {
    const messages = conversation('killed');
    const home = (await turn(clients[0]!, messages, 'first')).engine;
    const sim = fleet.sims[home]!;
    // The owner's engine takes 4 s to answer its next request: the job is taken, not started.
    sim.configure({ slowStartMs: 4_000, faultCount: 1 });
    const before = fleet.sims.map((s) => s.stats().completed);
    messages.push({ role: 'user', content: 'the owner dies while this waits for its engine' });
    const pending = clients[1]!.chat.completions.create({ model: MODEL, messages, max_tokens: 4 });
    await waitFor(() => sim.stats().faults > 0, 10_000, 'owner engine holding the request');
    await fleet.dispatchers[home]!.stop('SIGKILL');
    const answer = await pending;
    expect(answer.choices[0]!.message.content).toBeTruthy();
    const served = fleet.sims.map((s, i) => s.stats().completed - before[i]!);
    expect(served.filter((_, i) => i !== home).reduce((a, b) => a + b)).toBe(1);
    fleet.startDispatcher(home, { ...FAST_POLL, JOB_LOCK_SECONDS: '2', STALLED_CHECK_SECONDS: '1' });
    await waitForBackends(fleet.ingresses[0]!.url, 3);
  }, 60_000);
});
