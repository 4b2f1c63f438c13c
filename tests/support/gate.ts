import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { redisNames } from '@infergate/shared';
import { startService, waitFor, type Service } from './services.js';

/*
 * Helpers for the pull-gate and health tests: a fleet's dispatchers as
 * separate processes polling their engines fast, chat requests through an
 * ingress, and the ingress's /health as a value.
 */

export interface ChatAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** The answer's text, when the engine produced one. */
  readonly content: string | undefined;
  readonly body: unknown;
  readonly ms: number;
}

/** One non-streaming chat completion; `model` undefined sends none. */
export async function chat(baseUrl: string, model: string | undefined, maxTokens: number): Promise<ChatAnswer> {
  const started = performance.now();
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...(model === undefined ? {} : { model }), max_tokens: maxTokens, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = (await res.json()) as { choices?: Array<{ message?: { content?: string } }> };
  return { status: res.status, headers: res.headers, content: body.choices?.[0]?.message?.content, body, ms: performance.now() - started };
}

export interface BackendDetail {
  readonly backend: string;
  readonly dispatcher: string;
  readonly status: string;
  readonly ready: boolean;
  readonly models: string[];
  readonly in_flight: number;
  readonly outside_load: number;
  readonly blocked_by: string | null;
  readonly last_error: string | null;
  readonly [field: string]: unknown;
}

export interface Health {
  readonly httpStatus: number;
  readonly status: string;
  readonly available_backends: string[];
  readonly total_backends: number;
  readonly timestamp: number;
  readonly details: BackendDetail[];
}

export async function health(ingressUrl: string): Promise<Health> {
  const res = await fetch(`${ingressUrl}/health`);
  return { httpStatus: res.status, ...((await res.json()) as Omit<Health, 'httpStatus'>) };
}

/** Waits until the ingress reports the dispatcher of `engineUrl` in a state that satisfies `test`. */
export function waitForBackend(ingressUrl: string, engineUrl: string, test: (d: BackendDetail) => boolean, what: string): Promise<BackendDetail> {
  return waitFor(async () => (await health(ingressUrl)).details.find((d) => d.backend === engineUrl && test(d)), 20_000, `${engineUrl}: ${what}`);
}

/** Engine polls every 0.2 s, so outside load and readiness show within a fraction of a second. */
export const FAST_POLL = { METRICS_CACHE_TTL_SECONDS: '0.2', HEARTBEAT_INTERVAL_SECONDS: '0.25', STATUS_PORT: '0' };

/**
 * How long a fleet may take to come up. The ingress starts first, alone: a
 * crowd of processes loading TypeScript at once on a busy machine can keep
 * it from answering within its own start-up bound.
 */
export const STARTUP_MS = 90_000;

export function startDispatcher(env: Record<string, string>, engineUrl: string, id: string, extra: Record<string, string> = {}): Service {
  return startService('dispatcher', { ...FAST_POLL, ...env, ENGINE_URL: engineUrl, DISPATCHER_ID: id, ...extra });
}

/** Where a fleet's queues are and which ingress reports its dispatchers. */
export interface FleetAddress {
  readonly ingressUrl: string;
  readonly redisUrl: string;
  readonly prefix: string;
}

/**
 * Waits until `count` jobs of `model` are in its queue, then until the
 * dispatcher of every engine in `engineUrls` has written its state two
 * heartbeats later. A gate that let work through would have had its
 * dispatcher pull a job within a round trip of it arriving, so from then on
 * "the engine saw nothing" is an observation, not a hope. Returns those
 * states, each written after the jobs were queued.
 */
export async function heldBack(fleet: FleetAddress, model: string, count: number, engineUrls: readonly string[]): Promise<BackendDetail[]> {
  const connection = new Redis(fleet.redisUrl);
  const names = redisNames(fleet.prefix);
  const queue = new Queue(names.queueName(model), { connection, prefix: names.bullPrefix });
  try {
    await waitFor(async () => (await queue.getJobCountByTypes('waiting', 'prioritized', 'active')) === count, 20_000, `${count} ${model} jobs queued`);
  } finally {
    await queue.close();
    connection.disconnect();
  }
  const queuedAt = Date.now();
  const later = queuedAt + 2 * Number(FAST_POLL.HEARTBEAT_INTERVAL_SECONDS) * 1000;
  return waitFor(async () => {
    const { details } = await health(fleet.ingressUrl);
    const states = engineUrls.map((url) => details.find((d) => d.backend === url));
    return states.every((d) => d !== undefined && Number(d.last_heartbeat) * 1000 > later) ? (states as BackendDetail[]) : undefined;
  }, 20_000, `a heartbeat of ${engineUrls.join(', ')} after the ${model} jobs were queued`);
}
