import OpenAI from 'openai';
import { expectedTokens, startSimulator, type SimulatorHandle } from '@infergate/sim';
import { startIngressProcess, startService, waitForBackends, type IngressProcess, type Service } from './services.js';

/*
 * What the Cluster and Sentinel tests share: an infergate stack on a given
 * Redis, and streams whose every outcome is classified, never left hanging.
 */

export interface Stack {
  readonly sims: readonly SimulatorHandle[];
  readonly dispatchers: readonly Service[];
  readonly ingresses: readonly IngressProcess[];
  /** The official openai client on ingress `i`; it never retries, so a failure cannot hide. */
  client(i: number): OpenAI;
  /** Infergate processes that exited, each with the end of its output. */
  exited(): string[];
  /** Warnings and errors the infergate processes logged, for failure messages. */
  warnings(): string;
  stop(): Promise<void>;
}

/** One simulated llama.cpp engine per model, a dispatcher beside each, and an ingress per id. */
export async function startStack(
  env: Record<string, string>,
  options: { models: readonly string[]; ingressIds: readonly string[]; itlMs?: number },
): Promise<Stack> {
  const sims = await Promise.all(
    options.models.map((modelId) =>
      startSimulator({ kind: 'llamacpp', modelId, slots: 32, ttftMs: 10, itlMs: options.itlMs ?? 2, tokens: 64, tokenStyle: 'utf8', embeddings: true }),
    ),
  );
  const dispatchers = sims.map((sim, i) => startService('dispatcher', { ...env, ENGINE_URL: sim.url, DISPATCHER_ID: `d${i}`, STATUS_PORT: '0' }));
  // Bounds fit a shared 2-core machine, where a process may take many seconds to start.
  const ingresses = await Promise.all(options.ingressIds.map((id) => startIngressProcess({ ...env, INGRESS_ID: id }, 120_000)));
  await Promise.all(ingresses.map((ing) => waitForBackends(ing.url, sims.length, 120_000)));
  const all = [...dispatchers, ...ingresses];
  return {
    sims,
    dispatchers,
    ingresses,
    client: (i) => new OpenAI({ baseURL: `${ingresses[i]!.url}/v1`, apiKey: 'unused', maxRetries: 0 }),
    exited: () =>
      all
        .filter((s) => s.child.exitCode !== null || s.child.signalCode !== null)
        .map((s) => `${s.name} exited ${s.child.exitCode ?? s.child.signalCode}: ${s.output().slice(-2_000)}`),
    warnings: () => all.map((s) => s.output().split('\n').filter((l) => /"level":[4-6]0/.test(l)).slice(-15).join('\n')).join('\n'),
    async stop() {
      await Promise.all(all.map((s) => s.stop('SIGTERM', 5_000)));
      await Promise.all(sims.map((s) => s.close()));
    },
  };
}

export type Outcome =
  | { readonly kind: 'ok'; readonly startedAt: number; readonly endedAt: number }
  /** An error infergate reported: a status or SSE error event with an error code. */
  | { readonly kind: 'error'; readonly code: string; readonly message: string; readonly startedAt: number; readonly endedAt: number }
  /** Anything else: no answer within the bound, a cut connection, a wrong body. */
  | { readonly kind: 'broken'; readonly why: string; readonly startedAt: number; readonly endedAt: number };

/** One streamed chat completion, bounded by `timeoutMs`; resolves with its outcome, never throws. */
export async function streamOnce(client: OpenAI, model: string, maxTokens: number, timeoutMs: number): Promise<Outcome> {
  const startedAt = Date.now();
  const signal = AbortSignal.timeout(timeoutMs);
  let text = '';
  try {
    const stream = await client.chat.completions.create(
      { model, stream: true, max_tokens: maxTokens, messages: [{ role: 'user', content: 'failover' }] },
      { signal, timeout: timeoutMs },
    );
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    const endedAt = Date.now();
    if (text === expectedTokens(maxTokens, 'utf8')) return { kind: 'ok', startedAt, endedAt };
    return { kind: 'broken', why: `incomplete body without an error (${text.length} chars)`, startedAt, endedAt };
  } catch (err) {
    const endedAt = Date.now();
    if (signal.aborted) return { kind: 'broken', why: `no outcome within ${timeoutMs} ms`, startedAt, endedAt };
    if (err instanceof OpenAI.APIError && typeof err.code === 'string' && err.code.length > 0) {
      return { kind: 'error', code: err.code, message: err.message, startedAt, endedAt };
    }
    return { kind: 'broken', why: `${(err as Error).name}: ${(err as Error).message}`, startedAt, endedAt };
  }
}

/** `concurrency` loops, each streaming from a round-robin client and model until `until` aborts. */
export async function streamLoad(
  stack: Stack,
  models: readonly string[],
  options: { concurrency: number; maxTokens: number; timeoutMs: number; until: AbortSignal },
  /** Filled as requests settle, so a caller can wait for the load to be under way. */
  outcomes: Outcome[] = [],
): Promise<Outcome[]> {
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, i) => {
      const client = stack.client(i % stack.ingresses.length);
      const model = models[i % models.length]!;
      while (!options.until.aborted) {
        const outcome = await streamOnce(client, model, options.maxTokens, options.timeoutMs);
        outcomes.push(outcome);
        // As a client honouring Retry-After would, rather than spinning on fast 503s.
        if (outcome.kind !== 'ok') await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
  return outcomes;
}

/**
 * From `since`, starts a new request every `everyMs` until one succeeds, each
 * on its own, so one request stuck in a queue cannot delay the next. Resolves
 * with the milliseconds from `since` to the first success, and the outcome of
 * every request sent (each one bounded by the attempt's own timeout).
 */
export async function firstSuccess(
  attempt: () => Promise<Outcome>,
  since: number,
  options: { timeoutMs: number; everyMs?: number },
): Promise<{ ms: number; attempts: Outcome[] }> {
  const sent: Array<Promise<Outcome>> = [];
  let succeeded = false;
  while (!succeeded && Date.now() - since < options.timeoutMs) {
    sent.push(
      attempt().then((outcome) => {
        if (outcome.kind === 'ok') succeeded = true;
        return outcome;
      }),
    );
    await new Promise((r) => setTimeout(r, options.everyMs ?? 250));
  }
  const attempts = await Promise.all(sent);
  const first = Math.min(...attempts.filter((o) => o.kind === 'ok').map((o) => o.endedAt));
  if (!Number.isFinite(first)) throw new Error(`no request succeeded within ${options.timeoutMs} ms: ${JSON.stringify(tally(attempts))}`);
  return { ms: first - since, attempts };
}

/** Counts outcomes by kind and error code, for assertions and the test log. */
export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.kind === 'error' ? `error:${o.code}` : o.kind;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
