import type { ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createLogger,
  decodeBody,
  encodeFrame,
  forEachFrame,
  FrameKind,
  gatewayError,
  InternalFailures,
  jsonPayload,
  loadConfig,
  PRIORITY_CLASSES,
  redisNames,
  type CancelReason,
  type Env,
  type Frame,
  type InferenceJob,
  type RedisClient,
} from '@infergate/shared';
import { buildApp } from '../app.js';
import type { CancelPublisher, IngressContext, JobSubmitter, Limiter, OperatorAccess, ReplyRoutes } from '../context.js';
import { DrainRate } from '../drainRate.js';
import { IngressMetrics, type IngressOperation } from '../metrics.js';
import { QueueDepths } from '../queueDepths.js';
import { RegistryView } from '../registryView.js';
import type { FrameSink } from '../replyRouter.js';
import type { RelayOutcome } from '../requestRelay.js';

/*
 * The main inference route through app.inject(), the real app around fakes
 * of the context's small interfaces: no Redis, no engine. What the route
 * decides (admission, the job it queues, what it does when the client
 * leaves) is seen here exactly, and each fake can hold its answer so a
 * client can leave at a chosen await.
 */

const KEY = 'sk-inference-route-0123456789abcdef';
const MODEL = 'm1';
const silent = createLogger({ name: 'test', level: 'silent' });

/** A promise and the function that settles it, for answers a test releases when it chooses. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

class FakeJobs implements JobSubmitter {
  readonly enqueued: Array<{ job: InferenceJob; priority: number | undefined }> = [];
  readonly removals: string[] = [];
  readonly firstEnqueue = deferred<InferenceJob>();
  removeAnswer: () => Promise<boolean> = async () => true;

  async enqueue(job: InferenceJob, priority?: number): Promise<void> {
    this.enqueued.push({ job, priority });
    this.firstEnqueue.resolve(job);
  }

  removeWaiting(_model: string, rid: string): Promise<boolean> {
    this.removals.push(rid);
    return this.removeAnswer();
  }
}

class FakeRouter implements ReplyRoutes {
  readonly channel = 'test:reply';
  readonly ready = true;
  readonly sinks = new Map<string, FrameSink>();
  add(rid: string, sink: FrameSink): void {
    this.sinks.set(rid, sink);
  }
  remove(rid: string): void {
    this.sinks.delete(rid);
  }
}

/** Admits everyone, optionally only once `hold` resolves; records what it admitted and what was given back. */
class FakeLimiter implements Limiter {
  readonly asked = deferred<string>();
  readonly released: string[] = [];
  hold: Promise<void> | undefined;
  async acquire(_principal: unknown, rid: string): Promise<() => void> {
    this.asked.resolve(rid);
    await this.hold;
    return () => this.released.push(rid);
  }
}

class FakeCancels implements CancelPublisher {
  readonly cancels: Array<{ rid: string; reason: CancelReason }> = [];
  publishCancel(rid: string, reason: CancelReason): void {
    this.cancels.push({ rid, reason });
  }
}

/** The registry as a Redis holding one recently served model: the real RegistryView resolves against it. */
async function fleetServing(model: string): Promise<RegistryView> {
  const names = redisNames('test');
  const redis = {
    zrangebyscore: async (key: string) => (key === names.modelIndex ? [model, String(Date.now())] : []),
    mget: async () => [],
  } as unknown as RedisClient;
  const failures = new InternalFailures<IngressOperation>(silent, { internalFailure: () => undefined });
  const view = new RegistryView(redis, names, { refreshMs: 60_000, heartbeatTtlMs: 60_000 }, { defaultModel: undefined, unknownModel: 'reject' }, failures);
  await view.refresh();
  return view;
}

interface Harness {
  readonly app: FastifyInstance;
  readonly ctx: IngressContext;
  readonly jobs: FakeJobs;
  readonly router: FakeRouter;
  readonly limiter: FakeLimiter;
  readonly cancels: FakeCancels;
  readonly failed: string[];
  readonly settled: Array<{ model: string; outcome: RelayOutcome }>;
  /** The raw response of the request in flight, once its handler runs. */
  response(): ServerResponse;
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function harness(env: Env = {}, depth = 0, operator?: OperatorAccess): Promise<Harness> {
  const config = loadConfig('ingress', { API_KEYS: `tenant-a:${KEY}`, ...env });
  const jobs = new FakeJobs();
  const router = new FakeRouter();
  const limiter = new FakeLimiter();
  const cancels = new FakeCancels();
  const failed: string[] = [];
  const settled: Harness['settled'] = [];
  const metrics = new IngressMetrics({
    openRequests: () => router.sinks.size,
    models: () => [],
    dispatchers: () => [],
    redisConnections: () => ({}),
    knownHeads: () => new Map(),
    inspector: { summaries: async () => [] },
  });
  const ctx: IngressContext = {
    config,
    logger: silent,
    ingressId: 'test',
    names: redisNames('test'),
    router,
    jobs,
    cancels,
    // No dispatcher hears an engine read here; those are proven end to end (tests/e2e/engineRoutes.test.ts).
    engineReads: { send: async () => false },
    failures: new InternalFailures<IngressOperation>(silent, { internalFailure: (operation) => failed.push(operation) }),
    registry: await fleetServing(MODEL),
    drainRate: new DrainRate(),
    queueDepths: new QueueDepths(async () => depth),
    limiter,
    // Token limits and records run on Redis; tests/e2e/usage.test.ts covers them.
    usage: { admit: async () => undefined, settled: () => undefined, read: async () => [] },
    metrics,
    redisReady: () => true,
    ...(operator ? { operator } : {}),
    draining: false,
    onSettled(_request, model, outcome) {
      settled.push({ model, outcome });
    },
  };
  const app = await buildApp(ctx);
  let raw: ServerResponse | undefined;
  app.addHook('onRequest', async (_request, reply) => {
    raw = reply.raw;
  });
  apps.push(app);
  return { app, ctx, jobs, router, limiter, cancels, failed, settled, response: () => raw! };
}

const chat = (body: string | Buffer, extra: { url?: string; headers?: Record<string, string> } = {}) => ({
  method: 'POST' as const,
  url: extra.url ?? '/v1/chat/completions',
  headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...extra.headers },
  payload: body,
});

const CHAT_BODY = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });

function frame(kind: (typeof FrameKind)[keyof typeof FrameKind], rid: string, seq: number, payload?: Buffer): Frame {
  let out: Frame | undefined;
  forEachFrame(encodeFrame(kind, rid, seq, payload), (f) => (out = f));
  return out!;
}

/** Answers the queued job as a dispatcher would: head, one body chunk, end. */
function answer(h: Harness, rid: string, body: string, headers: Array<[string, string]> = []): void {
  const sink = h.router.sinks.get(rid)!;
  sink.onFrame(frame(FrameKind.head, rid, 0, jsonPayload({ status: 200, headers: [['content-type', 'application/json'], ...headers], dispatcher: 'd1' })));
  sink.onFrame(frame(FrameKind.data, rid, 1, Buffer.from(body)));
  sink.onFrame(frame(FrameKind.end, rid, 2));
}

/**
 * Starts a request whose client can leave later. inject() cannot abort a
 * request whose body it has sent, so leaving is what a closed connection
 * does to the response: it is destroyed and emits `close` unfinished.
 */
function leavingRequest(h: Harness) {
  const answered = h.app.inject(chat(CHAT_BODY)).then(
    () => 'answered',
    () => 'aborted',
  );
  return {
    answered,
    async leave(): Promise<void> {
      const res = h.response();
      const closed = once(res, 'close');
      res.destroy();
      await closed;
    },
  };
}

describe('inference route admission', () => {
  it('refuses every request with a 503 and Retry-After while the ingress drains', async () => {
    const h = await harness();
    h.ctx.draining = true;
    const res = await h.app.inject(chat(CHAT_BODY));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json().error.code).toBe('shutting_down');
    expect(h.jobs.enqueued).toHaveLength(0);
  });

  it('answers a full queue with 429 and a Retry-After from the drain rate', async () => {
    const h = await harness({ MAX_QUEUED_PER_MODEL: '2' }, 5);
    const now = Date.now();
    // Two departures two seconds apart: 0.5 jobs/s, so the 4 jobs over the limit drain in 8 s.
    h.ctx.drainRate.record(MODEL, now - 2000);
    h.ctx.drainRate.record(MODEL, now);
    const res = await h.app.inject(chat(CHAT_BODY));
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('8');
    expect(res.json().error).toMatchObject({ code: 'queue_full', message: `The queue for model '${MODEL}' is full (5 waiting).` });
    expect(h.jobs.enqueued).toHaveLength(0);
  });

  it('answers a model no dispatcher serves with an OpenAI-style 404', async () => {
    const h = await harness();
    const res = await h.app.inject(chat(JSON.stringify({ model: 'nope', messages: [] })));
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({ code: 'model_not_found', param: 'model' });
    expect(h.jobs.enqueued).toHaveLength(0);
  });

  it('asks for credentials before anything else', async () => {
    const h = await harness();
    const res = await h.app.inject({ ...chat(CHAT_BODY), headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(401);
    expect(h.jobs.enqueued).toHaveLength(0);
  });
});

describe('the queued job', () => {
  it('carries the request byte-for-byte and relays the answer', async () => {
    const h = await harness({ QUEUE_WAIT_TIMEOUT_SECONDS: '7' });
    const body = Buffer.from(`{ "model" : "${MODEL}",\n  "messages": [{"role":"user","content":"h\u00e9llo \\u00e9"}], "stream": false , "x": 1.50 }\n`, 'utf8');
    const reply = h.app.inject(chat(body, { url: '/v1/chat/completions?trace=1&a=%20b', headers: { 'x-custom': 'kept' } }));
    const job = await h.jobs.firstEnqueue.promise;
    expect(decodeBody(job).equals(body)).toBe(true);
    expect(job).toMatchObject({ method: 'POST', path: '/v1/chat/completions?trace=1&a=%20b', model: MODEL, stream: false, replyTo: 'test:reply', keyId: 'tenant-a' });
    expect(job.headers['x-custom']).toBe('kept');
    expect(job.deadline - job.enqueuedAt).toBe(7000);
    expect(h.jobs.enqueued[0]!.priority).toBe(PRIORITY_CLASSES.normal);
    answer(h, job.rid, '{"ok":true}');
    const res = await reply;
    expect([res.statusCode, res.body, res.headers['x-request-id']]).toEqual([200, '{"ok":true}', job.rid]);
    expect(h.limiter.released).toEqual([job.rid]);
    expect(h.settled).toMatchObject([{ model: MODEL, outcome: { status: 200, dispatcher: 'd1' } }]);
  });
});

describe('a client that leaves early', () => {
  it('while its key is being admitted: nothing is queued and its slot is given back', async () => {
    const h = await harness();
    const admit = deferred<void>();
    h.limiter.hold = admit.promise;
    const request = leavingRequest(h);
    const rid = await h.limiter.asked.promise;
    await request.leave();
    admit.resolve();
    await vi.waitFor(() => expect(h.settled).toHaveLength(1));
    expect(h.settled[0]).toMatchObject({ model: MODEL, outcome: { status: 499, error: 'cancelled' } });
    expect(h.limiter.released).toEqual([rid]);
    expect(h.jobs.enqueued).toHaveLength(0);
    expect(h.router.sinks.size).toBe(0);
    expect(await request.answered).toBe('aborted');
  });

  it('while queued: the job is taken out of the queue', async () => {
    const h = await harness();
    const request = leavingRequest(h);
    const job = await h.jobs.firstEnqueue.promise;
    await request.leave();
    await vi.waitFor(() => expect(h.settled).toHaveLength(1));
    expect(h.jobs.removals).toEqual([job.rid]);
    expect(h.settled[0]!.outcome).toMatchObject({ status: 499, error: 'cancelled' });
    expect(h.limiter.released).toEqual([job.rid]);
  });

  it('once a dispatcher holds the job: the cancel goes out', async () => {
    const h = await harness();
    h.jobs.removeAnswer = async () => false;
    const request = leavingRequest(h);
    const job = await h.jobs.firstEnqueue.promise;
    await request.leave();
    await vi.waitFor(() => expect(h.cancels.cancels).toEqual([{ rid: job.rid, reason: 'client_disconnected' }]));
  });

  it('when Redis cannot say whether it started: the cancel goes out and the failure is counted', async () => {
    const h = await harness();
    h.jobs.removeAnswer = async () => Promise.reject(gatewayError('redis_unavailable'));
    const request = leavingRequest(h);
    const job = await h.jobs.firstEnqueue.promise;
    await request.leave();
    await vi.waitFor(() => expect(h.cancels.cancels).toEqual([{ rid: job.rid, reason: 'client_disconnected' }]));
    expect(h.failed).toEqual(['dequeue']);
  });
});

describe('the queue-wait deadline', () => {
  it('answers 503 redis_unavailable at once when Redis cannot say whether the job started', async () => {
    const h = await harness({ QUEUE_WAIT_TIMEOUT_SECONDS: '0.2' });
    h.jobs.removeAnswer = async () => Promise.reject(gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1 }));
    const res = await h.app.inject(chat(CHAT_BODY));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json().error.code).toBe('redis_unavailable');
    const rid = h.jobs.enqueued[0]!.job.rid;
    expect(h.cancels.cancels).toEqual([{ rid, reason: 'cancelled' }]);
  });
});

describe('each surface with its own hooks', () => {
  const ADMIN_KEY = 'admin-key-0123456789abcdef';
  /** The operator surface is built but never reaches Redis in these requests. */
  const unreachable: OperatorAccess = {
    commands: {} as RedisClient,
    queue: () => {
      throw new Error('no queue is read here');
    },
  };

  it('asks probes for nothing, the client API for a client key, the operator surface for the admin key', async () => {
    const h = await harness({ ADMIN_API_KEY: ADMIN_KEY }, 0, unreachable);
    const status = async (method: 'GET' | 'POST', url: string, headers: Record<string, string> = {}) =>
      (await h.app.inject({ method, url, headers })).statusCode;
    expect(await status('GET', '/livez')).toBe(200);
    expect(await status('GET', '/readyz')).toBe(200);
    expect(await status('GET', '/v1/models')).toBe(401);
    expect(await status('GET', '/v1/models', { authorization: `Bearer ${KEY}` })).toBe(200);
    expect(await status('GET', '/v1/models', { authorization: `Bearer ${ADMIN_KEY}` })).toBe(401);
    // An unknown path is the client API's: it needs a client key before it is a 404.
    expect(await status('POST', '/v1/nowhere')).toBe(401);
    expect(await status('POST', '/v1/nowhere', { authorization: `Bearer ${KEY}` })).toBe(404);
    // Under /admin/api the admin key decides, and a typo behind it is a 404.
    expect(await status('GET', '/admin/api/nowhere', { authorization: `Bearer ${KEY}` })).toBe(401);
    expect(await status('GET', '/admin/api/nowhere', { authorization: `Bearer ${ADMIN_KEY}` })).toBe(404);
  });
});

describe('CORS (CORS_ORIGINS=localhost)', () => {
  const PAGE = 'http://localhost:3000';
  const preflight = (origin: string) => ({
    method: 'OPTIONS' as const,
    url: '/v1/chat/completions',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });

  it('answers a preflight without credentials: 204 with the allow headers, nothing queued', async () => {
    const h = await harness({ CORS_ORIGINS: 'localhost' });
    const res = await h.app.inject(preflight(PAGE));
    expect(res.statusCode).toBe(204);
    expect(res.headers).toMatchObject({
      'access-control-allow-origin': PAGE,
      'access-control-allow-methods': 'GET, HEAD, POST',
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-max-age': '600',
    });
    expect(String(res.headers.vary)).toMatch(/Origin/);
    expect(h.jobs.enqueued).toHaveLength(0);
  });

  it('takes loopback origins on any port and refuses others', async () => {
    const h = await harness({ CORS_ORIGINS: 'localhost' });
    for (const origin of ['http://127.0.0.1:5173', 'http://localhost:3000', 'http://[::1]:8080']) {
      const res = await h.app.inject(preflight(origin));
      expect([origin, res.statusCode, res.headers['access-control-allow-origin']]).toEqual([origin, 204, origin]);
    }
    const evil = await h.app.inject(preflight('http://evil.example'));
    expect(evil.statusCode).toBe(401);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('still authenticates the actual request, and lets the page read the 401', async () => {
    const h = await harness({ CORS_ORIGINS: 'localhost' });
    const res = await h.app.inject({ ...chat(CHAT_BODY), headers: { origin: PAGE, 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['access-control-allow-origin']).toBe(PAGE);
    expect(String(res.headers.vary)).toMatch(/Origin/);
    expect(h.jobs.enqueued).toHaveLength(0);
  });

  it('lets the page read the gateway\'s own refusals: a full queue (429)', async () => {
    const h = await harness({ CORS_ORIGINS: 'localhost', MAX_QUEUED_PER_MODEL: '1' }, 3);
    const res = await h.app.inject(chat(CHAT_BODY, { headers: { origin: PAGE } }));
    expect([res.statusCode, res.headers['access-control-allow-origin']]).toEqual([429, PAGE]);
  });

  it('carries the allow-origin header once on a relayed answer and on an error written after the relay took over', async () => {
    const h = await harness({ CORS_ORIGINS: `${PAGE},http://other.example` });
    const reply = h.app.inject(chat(CHAT_BODY, { headers: { origin: PAGE } }));
    const job = await h.jobs.firstEnqueue.promise;
    answer(h, job.rid, '{"ok":true}', [['vary', 'Accept-Encoding']]);
    const res = await reply;
    // One value, not a list: the relayed head and the gateway's policy did not both write it.
    expect([res.statusCode, res.headers['access-control-allow-origin'], res.headers.vary]).toEqual([200, PAGE, 'Origin, Accept-Encoding']);

    h.jobs.enqueue = async () => {
      throw new Error('redis down');
    };
    const failed = await h.app.inject(chat(CHAT_BODY, { headers: { origin: 'http://other.example' } }));
    expect([failed.statusCode, failed.headers['access-control-allow-origin']]).toEqual([503, 'http://other.example']);
  });

  it('is off by default: a preflight needs credentials like any request', async () => {
    const h = await harness();
    const res = await h.app.inject(preflight(PAGE));
    expect(res.statusCode).toBe(401);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});
