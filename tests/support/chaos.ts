import { request } from 'undici';
import { expectedTokens, startSimulator, type SimulatorHandle, type SimulatorOptions } from '@infergate/sim';
import { startTestFleet, type TestFleet } from './fleet.js';

/*
 * Steady streaming load while engines die and come back, a dispatcher is
 * SIGKILLed, and Redis restarts. Every request must end either with a
 * complete, correct stream or with an error; none may hang past its bound,
 * none may be silently corrupted.
 */

export interface ChaosReport {
  readonly seconds: number;
  readonly requests: number;
  readonly completed: number;
  readonly errored: Record<string, number>;
  readonly hung: number;
  readonly corrupted: number;
  readonly latencyP99Ms: number;
  readonly afterChaosOk: boolean;
  readonly events: string[];
}

type Outcome = { kind: 'completed' } | { kind: 'errored'; cause: string } | { kind: 'hung' } | { kind: 'corrupted'; detail: string };

const SIM: SimulatorOptions = { kind: 'llamacpp', slots: 4, ttftMs: 20, itlMs: 10, tokens: 40 };

async function oneRequest(base: string, tokens: number, boundMs: number): Promise<Outcome> {
  const signal = AbortSignal.timeout(boundMs);
  let raw = '';
  let status = 0;
  try {
    const res = await request(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'stories260K.gguf', stream: true, max_tokens: tokens, messages: [{ role: 'user', content: 'chaos' }] }),
      signal,
    });
    status = res.statusCode;
    raw = await res.body.text();
  } catch (err) {
    if (signal.aborted) return { kind: 'hung' };
    return { kind: 'errored', cause: (err as { code?: string }).code ?? 'connection' };
  }
  if (status !== 200) {
    try {
      return { kind: 'errored', cause: `${status} ${(JSON.parse(raw) as { error: { code: string } }).error.code}` };
    } catch {
      return { kind: 'errored', cause: String(status) };
    }
  }
  let text = '';
  let done = false;
  for (const event of raw.split('\n\n')) {
    if (!event.startsWith('data: ')) continue;
    const data = event.slice(6);
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    const parsed = JSON.parse(data) as { error?: { code: string }; choices?: Array<{ delta?: { content?: string } }> };
    if (parsed.error) return { kind: 'errored', cause: `stream ${parsed.error.code}` };
    text += parsed.choices?.[0]?.delta?.content ?? '';
  }
  if (!done) return { kind: 'errored', cause: 'stream cut' };
  return text === expectedTokens(tokens) ? { kind: 'completed' } : { kind: 'corrupted', detail: text.slice(0, 80) };
}

export async function runChaos(options: { seconds: number; concurrency: number; log?: (line: string) => void }): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const fleet: TestFleet = await startTestFleet({
    sims: [SIM, SIM, SIM],
    ingresses: 2,
    dispatcherEnv: { JOB_LOCK_SECONDS: '6', STALLED_CHECK_SECONDS: '3' },
    ingressEnv: { QUEUE_WAIT_TIMEOUT_SECONDS: '20', RELAY_STALL_TIMEOUT_SECONDS: '5', ORPHAN_WAIT_SECONDS: '20' },
  });
  const sims: SimulatorHandle[] = fleet.sims;
  const events: string[] = [];
  const startedAt = Date.now();
  const note = (what: string) => {
    const line = `${((Date.now() - startedAt) / 1000).toFixed(1)}s ${what}`;
    events.push(line);
    log(line);
  };
  const outcomes: Outcome[] = [];
  const latencies: number[] = [];
  const boundMs = 60_000;
  let stop = false;
  let turn = 0;
  const clients = Array.from({ length: options.concurrency }, async () => {
    while (!stop) {
      const base = fleet.ingresses[turn++ % fleet.ingresses.length]!.url;
      const t0 = performance.now();
      const outcome = await oneRequest(base, 5 + (turn % 20), boundMs);
      latencies.push(performance.now() - t0);
      outcomes.push(outcome);
      if (outcome.kind === 'errored') await new Promise((r) => setTimeout(r, 100));
    }
  });

  const at = (fraction: number) => new Promise((r) => setTimeout(r, Math.max(0, startedAt + fraction * options.seconds * 1000 - Date.now())));
  try {
    await at(0.1);
    const port = sims[0]!.port;
    await sims[0]!.close();
    note(`engine 0 killed (port ${port})`);
    await at(0.2);
    sims[0] = await startSimulator({ ...SIM, port });
    note('engine 0 restarted');
    await at(0.3);
    fleet.dispatchers[1]!.child.kill('SIGKILL');
    note('dispatcher 1 SIGKILLed');
    await at(0.4);
    fleet.startDispatcher(1);
    note('dispatcher 1 restarted');
    await at(0.55);
    await fleet.redis.kill();
    note('redis killed');
    await new Promise((r) => setTimeout(r, 1_000));
    await fleet.redis.restart();
    note('redis restarted');
    await at(1);
    stop = true;
    note('load stopped; waiting for open requests');
    await Promise.all(clients);
    note('all requests settled');
    const after = await Promise.all(Array.from({ length: 8 }, (_, i) => oneRequest(fleet.ingresses[i % 2]!.url, 6, 30_000)));
    const afterChaosOk = after.every((o) => o.kind === 'completed');
    const processesAlive = fleet.ingresses.every((s) => s.child.exitCode === null) && fleet.dispatchers.every((s) => s.child.exitCode === null);
    if (!processesAlive) note('a process exited');
    const errored: Record<string, number> = {};
    for (const o of outcomes) if (o.kind === 'errored') errored[o.cause] = (errored[o.cause] ?? 0) + 1;
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      seconds: options.seconds,
      requests: outcomes.length,
      completed: outcomes.filter((o) => o.kind === 'completed').length,
      errored,
      hung: outcomes.filter((o) => o.kind === 'hung').length,
      corrupted: outcomes.filter((o) => o.kind === 'corrupted').length,
      latencyP99Ms: Math.round(sorted[Math.floor(sorted.length * 0.99)] ?? 0),
      afterChaosOk: afterChaosOk && processesAlive,
      events,
    };
  } finally {
    stop = true;
    await fleet.stop();
  }
}
