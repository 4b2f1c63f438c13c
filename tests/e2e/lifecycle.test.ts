import { afterEach, describe, expect, it } from 'vitest';
import { Client, request } from 'undici';
import { expectedTokens } from '@infergate/sim';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { startIngressProcess, waitFor, waitForBackends } from '../support/services.js';

/*
 * Processes dying, restarting and stopping: a SIGKILLed dispatcher, a Redis
 * restart, SIGTERM drains and a rolling restart under load.
 */

const MODEL = 'stories260K.gguf';

interface StreamResult {
  readonly status: number;
  readonly text: string;
  readonly error?: string;
  readonly endedAt: number;
}

const CHAT_PATH = '/v1/chat/completions';

/** A streamed chat completion of `maxTokens` tokens. */
function chat(maxTokens: number) {
  return {
    method: 'POST' as const,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, stream: true, max_tokens: maxTokens, messages: [{ role: 'user', content: 'hi' }] }),
  };
}

/** `accepted`: called once the ingress has answered the request's head (it took the request). */
async function stream(base: string, maxTokens: number, boundMs = 60_000, accepted?: () => void): Promise<StreamResult> {
  const res = await request(`${base}${CHAT_PATH}`, { ...chat(maxTokens), signal: AbortSignal.timeout(boundMs) }).finally(accepted);
  const raw = await res.body.text();
  if (res.statusCode !== 200) return { status: res.statusCode, text: '', error: (JSON.parse(raw) as { error: { code: string } }).error.code, endedAt: Date.now() };
  let text = '';
  let error: string | undefined;
  for (const event of raw.split('\n\n')) {
    const data = event.startsWith('data: ') ? event.slice(6) : '';
    if (!data || data === '[DONE]') continue;
    const parsed = JSON.parse(data) as { error?: { code: string }; choices?: Array<{ delta?: { content?: string } }> };
    if (parsed.error) error = parsed.error.code;
    text += parsed.choices?.[0]?.delta?.content ?? '';
  }
  return { status: 200, text, ...(error ? { error } : {}), endedAt: Date.now() };
}

let fleet: TestFleet | undefined;

afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

describe('a dispatcher killed with SIGKILL', () => {
  it('fails its started streams within 5 s and its unstarted jobs are served elsewhere within 15 s', async () => {
    fleet = await startTestFleet({
      sims: [
        { kind: 'llamacpp', slots: 2, ttftMs: 10, itlMs: 200, tokens: 200 },
        { kind: 'llamacpp', slots: 2, ttftMs: 10, itlMs: 20, tokens: 200 },
      ],
      ingressEnv: { RELAY_STALL_TIMEOUT_SECONDS: '5', ORPHAN_WAIT_SECONDS: '30' },
    });
    const url = fleet.ingresses[0]!.url;
    const [slow, fast] = fleet.sims;
    // Only the doomed dispatcher may pull while the two requests start.
    fleet.dispatchers[1]!.child.kill('SIGSTOP');
    const started = stream(url, 100);
    await waitFor(() => slow!.stats().processing === 1, 10_000, 'stream started on engine 0');
    slow!.configure({ slowStartMs: 60_000, faultCount: 1 });
    const unstarted = stream(url, 5);
    await waitFor(() => slow!.stats().requests === 2, 10_000, 'second job taken by dispatcher 0');
    fleet.dispatchers[1]!.child.kill('SIGCONT');
    const killedAt = Date.now();
    fleet.dispatchers[0]!.child.kill('SIGKILL');

    const broken = await started;
    expect(broken.error).toBe('relay_lost');
    expect(broken.endedAt - killedAt).toBeLessThan(5_000 + 1_000);

    const rescued = await unstarted;
    expect(rescued.error).toBeUndefined();
    expect(rescued.text).toBe(expectedTokens(5));
    expect(rescued.endedAt - killedAt).toBeLessThan(15_000 + 2_000);
    expect(fast!.stats().completed).toBeGreaterThanOrEqual(1);
  }, 60_000);
});

describe('an ingress killed with SIGKILL', () => {
  it('frees the engine slots of its streams: a publish that reaches nobody means the client is gone', async () => {
    fleet = await startTestFleet({ sims: [{ kind: 'llamacpp', slots: 4, ttftMs: 10, itlMs: 50, tokens: 400 }] });
    const sim = fleet.sims[0]!;
    const streams = Array.from({ length: 3 }, () => stream(fleet!.ingresses[0]!.url, 300).catch(() => undefined));
    await waitFor(() => sim.stats().processing === 3, 10_000, 'streams running');
    const killedAt = Date.now();
    fleet.ingresses[0]!.child.kill('SIGKILL');
    await Promise.all(streams);
    await waitFor(() => sim.stats().processing === 0, 5_000, 'engine slots freed');
    expect(Date.now() - killedAt).toBeLessThan(1_000);
    expect(sim.stats().cancellations).toBe(3);
  }, 60_000);
});

describe('a Redis restart', () => {
  it('fails in-flight requests cleanly, keeps every process up, and serves new requests within 5 s', async () => {
    fleet = await startTestFleet({ sims: [{ kind: 'llamacpp', slots: 4, ttftMs: 10, itlMs: 50, tokens: 200 }] });
    const url = fleet.ingresses[0]!.url;
    const inFlight = Array.from({ length: 3 }, () => stream(url, 100));
    await waitFor(() => fleet!.sims[0]!.stats().processing === 3, 10_000, 'streams running');
    await fleet.redis.kill();
    const failed = await Promise.all(inFlight);
    for (const r of failed) expect(r.error).toBeDefined();
    await fleet.redis.restart();
    const backAt = Date.now();
    const first = await waitFor(async () => {
      const r = await stream(url, 3, 10_000);
      return r.text === expectedTokens(3) ? r : undefined;
    }, 20_000, 'a request served after the restart');
    expect(first.endedAt - backAt).toBeLessThan(5_000);
    for (const s of [...fleet.ingresses, ...fleet.dispatchers]) expect(s.child.exitCode).toBeNull();
    await waitFor(() => fleet!.sims[0]!.stats().processing === 0, 5_000, 'engine idle again');
  }, 60_000);
});

describe('graceful shutdown', () => {
  it('SIGTERM lets open streams finish and exits 0, for an ingress and for a dispatcher', async () => {
    fleet = await startTestFleet({ sims: [{ kind: 'llamacpp', slots: 4, ttftMs: 10, itlMs: 20, tokens: 200 }] });
    const url = fleet.ingresses[0]!.url;
    const open = Array.from({ length: 3 }, () => stream(url, 50));
    await waitFor(() => fleet!.sims[0]!.stats().processing === 3, 10_000, 'streams running');
    const ingressExit = fleet.ingresses[0]!.stop('SIGTERM');
    const dispatcherExit = fleet.dispatchers[0]!.stop('SIGTERM');
    for (const r of await Promise.all(open)) expect(r.text).toBe(expectedTokens(50));
    expect(await ingressExit).toBe(0);
    expect(await dispatcherExit).toBe(0);
  }, 60_000);

  it('answers a request that reaches it on an open connection while it drains with an OpenAI-style 503 and Retry-After', async () => {
    fleet = await startTestFleet({ sims: [{ kind: 'llamacpp', slots: 4, ttftMs: 10, itlMs: 20, tokens: 200 }] });
    const url = fleet.ingresses[0]!.url;
    const held = stream(url, 100);
    const connection = new Client(url);
    try {
      const post = (maxTokens: number) => connection.request({ path: CHAT_PATH, ...chat(maxTokens) });
      // This connection's request is still streaming when the drain starts, so the connection is not idle.
      const open = await post(25);
      await waitFor(() => fleet!.sims[0]!.stats().processing === 2, 10_000, 'both streams running');
      const exit = fleet.ingresses[0]!.stop('SIGTERM');
      await waitFor(async () => (await fetch(`${url}/readyz`).then((r) => r.status).catch(() => 'closed')) !== 200, 10_000, 'ingress draining');
      await open.body.text();
      const refused = await post(1);
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(((await refused.body.json()) as { error: { code: string; type: string } }).error).toMatchObject({ code: 'shutting_down', type: 'server_error' });
      expect((await held).text).toBe(expectedTokens(100));
      expect(await exit).toBe(0);
    } finally {
      await connection.close();
    }
  }, 60_000);

  it('a rolling restart of one ingress and one dispatcher under load loses no request', async () => {
    fleet = await startTestFleet({
      sims: [
        { kind: 'llamacpp', slots: 4, ttftMs: 10, itlMs: 10, tokens: 100 },
        { kind: 'llamacpp', slots: 4, ttftMs: 10, itlMs: 10, tokens: 100 },
      ],
      ingresses: 2,
    });
    const f = fleet;
    const live = new Set(f.ingresses.map((i) => i.url));
    let stop = false;
    const results: StreamResult[] = [];
    let turn = 0;
    // Requests on their way to each node that it has not answered the head of yet.
    const unanswered = new Map<string, number>();
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) {
        // A load balancer sends new requests only to nodes that are up.
        const targets = [...live];
        const target = targets[turn++ % targets.length]!;
        unanswered.set(target, (unanswered.get(target) ?? 0) + 1);
        results.push(await stream(target, 20, undefined, () => unanswered.set(target, unanswered.get(target)! - 1)));
      }
    });
    await waitFor(() => results.length >= 8, 20_000, 'the load under way');
    const leaving = f.ingresses[0]!;
    live.delete(leaving.url);
    // The node is signalled once the balancer's last requests to it have arrived, as a balancer's
    // deregistration delay (or a Kubernetes preStop pause) ensures; their streams are still open.
    await waitFor(() => (unanswered.get(leaving.url) ?? 0) === 0, 10_000, 'requests already sent to the leaving ingress taken');
    expect(await leaving.stop('SIGTERM')).toBe(0);
    const replacement = await startIngressProcess(f.env);
    await waitForBackends(replacement.url, 2);
    f.ingresses[0] = replacement;
    live.add(replacement.url);
    expect(await f.dispatchers[0]!.stop('SIGTERM')).toBe(0);
    f.startDispatcher(0);
    await waitForBackends(replacement.url, 2);
    const servedBeforeRestart = results.length;
    await waitFor(() => results.length >= servedBeforeRestart + 8, 20_000, 'requests served after the restart');
    stop = true;
    await Promise.all(clients);
    expect(results.length).toBeGreaterThan(20);
    expect(results.filter((r) => r.text !== expectedTokens(20))).toEqual([]);
  }, 90_000);
});
