import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeBody,
  forEachFrame,
  FrameKind,
  JOB_VERSION,
  parseError,
  PRIORITY_CLASSES,
  redisNames,
  type Frame,
  type InferenceJob,
} from '@infergate/shared';
import { expectedTokens, startSimulator, type SimulatorHandle } from '@infergate/sim';
import { startDispatcher } from '../support/gate.js';
import { httpRequest, rawRequest, type RawAnswer } from '../support/rawHttp.js';
import { startRecordingProxy, type RecordedRequest, type RecordingProxy } from '../support/recordingProxy.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, waitFor, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * What a client can and cannot make infergate do: which paths and headers
 * reach an engine, what a dispatcher will contact, the limits on requests,
 * and what ends up in logs and error bodies. Engines sit behind a recording
 * proxy, so every assertion about "the engine saw" is about real traffic.
 */

const MODEL = 'sec';
const KEY = 'sk-security-test-key-7c1e5a';
const ENGINE_KEY = 'engine-secret-key-93bd02';
const JWT_SECRET = 'security-test-jwt-secret-0123456789abcdef';
const PROMPT = 'PROMPT-CANARY-4f6d2b9e say something';
/** Ingress B's limits, small enough to reach in a test. */
const LIMITS = { BODY_LIMIT_BYTES: 4096, MAX_HEADER_BYTES: 4096, MAX_URL_LENGTH: 512, HEADERS_TIMEOUT_SECONDS: 1, REQUEST_TIMEOUT_SECONDS: 2, MAX_CONNECTIONS: 3 };

let redis: TestRedis;
let prefix: string;
let sim: SimulatorHandle;
let proxy: RecordingProxy;
let dispatcher: Service;
/** Default limits, everything logged (trace). */
let a: IngressProcess;
/** Small limits, X-Conversation-Id forwarded. */
let b: IngressProcess;
/** A server nothing should ever connect to. */
let canary: Server;
let canaryPort: number;
let canaryConnections = 0;
/** Every error body any test received, checked for stack traces at the end. */
const errorBodies: string[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  prefix = uniquePrefix();
  sim = await startSimulator({ kind: 'llamacpp', slots: 8, ttftMs: 5, itlMs: 2, tokens: 16, modelId: MODEL });
  proxy = await startRecordingProxy(sim.url);
  canary = createServer((socket) => {
    canaryConnections++;
    socket.destroy();
  });
  await new Promise<void>((r) => canary.listen(0, '127.0.0.1', () => r()));
  canaryPort = (canary.address() as { port: number }).port;
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, API_KEYS: KEY, ALLOW_OPEN_ACCESS: 'false' };
  dispatcher = startDispatcher(env, proxy.url, 'd1', { ENGINE_API_KEY: ENGINE_KEY, LOG_LEVEL: 'trace' });
  const limits = Object.fromEntries(Object.entries(LIMITS).map(([k, v]) => [k, String(v)]));
  [a, b] = await Promise.all([
    startIngressProcess({ ...env, JWT_SECRET, LOG_LEVEL: 'trace' }),
    startIngressProcess({ ...env, ...limits, FORWARD_CONVERSATION_ID: 'true' }),
  ]);
  await Promise.all([a, b].map((ing) => waitForBackends(ing.url, 1)));
}, 120_000);

afterAll(async () => {
  await Promise.all([a, b, dispatcher].filter(Boolean).map((s) => s.stop()));
  await proxy?.close();
  await sim?.close();
  await new Promise((r) => canary?.close(r));
  await redis?.stop();
});

const port = (ingress: IngressProcess) => Number(new URL(ingress.url).port);
const chatBody = (extra: object = {}) => JSON.stringify({ model: MODEL, max_tokens: 3, messages: [{ role: 'user', content: PROMPT }], ...extra });
/** Requests the dispatcher forwarded (its own engine probes carry no request id). */
const forwarded = (): RecordedRequest[] => proxy.requests.filter((r) => r.headers['x-request-id'] !== undefined);
const forwardedAs = (rid: string | undefined) => forwarded().find((r) => r.headers['x-request-id'] === rid);

/** A raw request to an ingress on its own connection; error bodies are kept for the stack-trace check. */
async function raw(ingress: IngressProcess, method: string, target: string, headers: Record<string, string>, body = ''): Promise<RawAnswer> {
  const request = httpRequest(method, target, { connection: 'close', ...headers }, body);
  const answer = await rawRequest(port(ingress), [request], { awaitCloseMs: 1_000 });
  if (answer.status !== undefined && answer.status >= 400) errorBodies.push(answer.body);
  return answer;
}

/** The error code of an OpenAI-style error body. */
function codeOf(answer: { body: string }): string | undefined {
  try {
    return (JSON.parse(answer.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

describe('forwarding policy', () => {
  it('never forwards the client’s credentials or hop-by-hop headers; X-Conversation-Id only when configured', async () => {
    const clientHeaders = {
      authorization: `Bearer ${KEY}`,
      'X-Api-Key': KEY,
      Cookie: `session=${KEY}`,
      'Proxy-Authorization': `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}`,
      Connection: 'keep-alive, X-Hop',
      'X-Hop': 'per-connection',
      'Keep-Alive': 'timeout=5',
      TE: 'trailers',
      'X-Conversation-Id': 'conv-1',
      'X-Trace': 'trace-1',
      'content-type': 'application/json',
    };
    for (const [ingress, conversation] of [[a, false], [b, true]] as const) {
      const answer = await raw(ingress, 'POST', '/v1/chat/completions', clientHeaders, chatBody());
      expect(answer.status).toBe(200);
      const seen = forwardedAs(answer.headers['x-request-id'])!;
      expect(seen, 'the engine saw the request').toBeDefined();
      const names = new Set(seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()));
      for (const dropped of ['x-api-key', 'cookie', 'proxy-authorization', 'x-hop', 'keep-alive', 'te']) expect(names.has(dropped), dropped).toBe(false);
      expect(seen.rawHeaders.join('\n')).not.toContain(KEY);
      // The engine gets its own key, never the client's.
      expect(seen.headers.authorization).toBe(`Bearer ${ENGINE_KEY}`);
      expect(seen.headers['x-trace']).toBe('trace-1');
      expect(seen.headers['x-conversation-id']).toBe(conversation ? 'conv-1' : undefined);
    }
  });

  it('answers Expect: 100-continue itself and forwards the request without it', async () => {
    const answer = await raw(a, 'POST', '/v1/chat/completions', { 'x-api-key': KEY, 'content-type': 'application/json', expect: '100-continue' }, chatBody());
    expect(answer.status).toBe(200);
    expect(forwardedAs(answer.headers['x-request-id'])?.headers.expect).toBeUndefined();
  });

  it('sends every request to the dispatcher’s own engine, whatever Host or forwarding headers say', async () => {
    const answer = await raw(a, 'POST', '/v1/chat/completions', {
      host: `127.0.0.1:${canaryPort}`,
      'x-forwarded-host': `127.0.0.1:${canaryPort}`,
      forwarded: `host=127.0.0.1:${canaryPort}`,
      'x-api-key': KEY,
      'content-type': 'application/json',
    }, chatBody());
    expect(answer.status).toBe(200);
    expect(forwardedAs(answer.headers['x-request-id'])?.headers.host).toBe(new URL(proxy.url).host);
    expect(canaryConnections).toBe(0);
  });

  const adminSurfaces: Array<[string, string]> = [
    // llama.cpp
    ['POST', '/slots/0?action=save'],
    ['POST', '/slots/0?action=restore'],
    ['POST', '/slots/0?action=erase'],
    ['GET', '/slots'],
    ['POST', '/props'],
    ['GET', '/props'],
    ['GET', '/lora-adapters'],
    ['POST', '/lora-adapters'],
    ['POST', '/models/load'],
    ['POST', '/models/unload'],
    ['DELETE', '/v1/stream/conv-1'],
    ['GET', '/v1/streams'],
    ['POST', '/v1/chat/completions/control'],
    // vLLM
    ['POST', '/v1/load_lora_adapter'],
    ['POST', '/v1/unload_lora_adapter'],
    ['POST', '/start_profile'],
    ['POST', '/stop_profile'],
    ['GET', '/server_info'],
    ['POST', '/reset_prefix_cache'],
    ['POST', '/sleep'],
    ['POST', '/wake_up'],
    ['GET', '/is_sleeping'],
    ['POST', '/collective_rpc'],
    ['POST', '/invocations'],
    ['POST', '/inference/v1/generate'],
  ];

  it.each(adminSurfaces)('answers %s %s with 404 at the ingress; the engine never sees it', async (method, target) => {
    const before = forwarded().length;
    const answer = await raw(a, method, target, { 'x-api-key': KEY, 'content-type': 'application/json' }, method === 'GET' ? '' : '{}');
    expect(answer.status).toBe(404);
    expect(codeOf(answer)).toBe('unsupported_path');
    expect(forwarded().length).toBe(before);
  });

  /** `CANARY` stands for the canary's address. */
  const hostileTargets = [
    'http://CANARY/v1/chat/completions',
    'https://CANARY/v1/chat/completions',
    '//CANARY/v1/chat/completions',
    'file:///etc/passwd',
    '/v1/chat/completions%zz',
    '/v1/chat/completions#fragment',
    '/v1/../slots/0?action=erase',
    '/v1/%2e%2e/props',
    '/v1/chat/completions%2F..%2F..%2Fprops',
    '/v1//chat/completions',
    '/v1/chat/completions/..',
    '/v1/chat\\completions',
    '*',
  ];

  it.each(hostileTargets)('refuses the request target %s before it can be forwarded', async (template) => {
    const target = template.replace('CANARY', `127.0.0.1:${canaryPort}`);
    const before = forwarded().length;
    const answer = await raw(a, 'POST', target, { 'x-api-key': KEY, 'content-type': 'application/json' }, chatBody());
    expect([400, 404]).toContain(answer.status);
    expect(codeOf(answer)).toMatch(/^(invalid_path|unsupported_path)$/);
    expect(forwarded().length).toBe(before);
    expect(canaryConnections).toBe(0);
  });

  it('has a dispatcher refuse a queued job whose path is not a plain path, contacting nothing', async () => {
    const names = redisNames(prefix);
    const connection = new Redis(redis.url);
    const subscriber = new Redis(redis.url);
    const queue = new Queue(names.queueName(MODEL), { connection, prefix: names.bullPrefix });
    const channel = names.replyChannel('security-test');
    const frames: Frame[] = [];
    await subscriber.subscribe(channel);
    subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => forEachFrame(message, (f) => frames.push(f)));
    const job = (path: string): InferenceJob => ({
      v: JOB_VERSION,
      rid: randomUUID(),
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body: encodeBody(Buffer.from(chatBody())),
      model: MODEL,
      stream: false,
      deadline: Date.now() + 30_000,
      replyTo: channel,
      enqueuedAt: Date.now(),
    });
    // Written straight into Redis, as anything with access to it could.
    const unsafe = [`http://127.0.0.1:${canaryPort}/v1/chat/completions`, `//127.0.0.1:${canaryPort}/x`, '/v1/../slots/0?action=erase', 'v1/chat/completions'].map(job);
    const safe = job('/v1/chat/completions');
    try {
      for (const j of [...unsafe, safe]) {
        await queue.add('request', j, { jobId: j.rid, removeOnComplete: true, removeOnFail: true, attempts: 1, priority: PRIORITY_CLASSES.normal });
      }
      const first = (rid: string) => frames.find((f) => f.rid === rid && f.kind !== FrameKind.heartbeat);
      await waitFor(() => [...unsafe, safe].every((j) => first(j.rid)), 15_000, 'an answer to every injected job');
      for (const j of unsafe) {
        const frame = first(j.rid)!;
        expect(frame.kind, j.path).toBe(FrameKind.error);
        expect(parseError(frame.payload).code).toBe('invalid_path');
        expect(forwardedAs(j.rid), j.path).toBeUndefined();
      }
      // The same route with a plain path is served: the refusal is the path's.
      expect(first(safe.rid)!.kind).toBe(FrameKind.head);
      expect(canaryConnections).toBe(0);
    } finally {
      await queue.close();
      connection.disconnect();
      subscriber.disconnect();
    }
  });
});

describe('request limits', () => {
  const keyed = { 'x-api-key': KEY, 'content-type': 'application/json' };

  it('refuses a body over BODY_LIMIT_BYTES with 413, whatever its framing, and serves one at the limit', async () => {
    const at = chatBody({ pad: '' });
    const body = (size: number) => chatBody({ pad: 'x'.repeat(size - at.length) });
    expect((await raw(b, 'POST', '/v1/chat/completions', keyed, body(LIMITS.BODY_LIMIT_BYTES))).status).toBe(200);
    const over = await raw(b, 'POST', '/v1/chat/completions', keyed, body(LIMITS.BODY_LIMIT_BYTES + 1));
    expect([over.status, codeOf(over)]).toEqual([413, 'body_too_large']);
    const big = body(LIMITS.BODY_LIMIT_BYTES * 4);
    const chunked = await raw(b, 'POST', '/v1/chat/completions', { ...keyed, 'transfer-encoding': 'chunked' }, `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`);
    expect([chunked.status, codeOf(chunked)]).toEqual([413, 'body_too_large']);
    // A declared length over the limit is refused before the body is sent.
    const declared = await rawRequest(port(b), [Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-api-key: ${KEY}\r\ncontent-length: 99999999\r\n\r\n`)]);
    expect([declared.status, codeOf(declared)]).toEqual([413, 'body_too_large']);
  });

  it('refuses oversized headers with 431 and an oversized URL with 414', async () => {
    const headers = await raw(b, 'POST', '/v1/chat/completions', { ...keyed, 'x-filler': 'h'.repeat(LIMITS.MAX_HEADER_BYTES) }, chatBody());
    expect([headers.status, codeOf(headers), headers.closedByServer]).toEqual([431, 'headers_too_large', true]);
    const url = await raw(b, 'POST', `/v1/chat/completions?q=${'u'.repeat(LIMITS.MAX_URL_LENGTH)}`, keyed, chatBody());
    expect([url.status, codeOf(url)]).toEqual([414, 'url_too_long']);
    expect((await raw(b, 'POST', `/v1/chat/completions?q=${'u'.repeat(LIMITS.MAX_URL_LENGTH - 40)}`, keyed, chatBody())).status).toBe(200);
  });

  it('refuses invalid JSON with 400 before anything is queued', async () => {
    const before = forwarded().length;
    for (const body of ['{"model":', '[1,2]', '"text"', '\u00ff\u00fe{}']) {
      const answer = await raw(a, 'POST', '/v1/chat/completions', keyed, body);
      expect(answer.status, body).toBe(400);
      expect(codeOf(answer)).toMatch(/^invalid_(json|body)$/);
    }
    expect(forwarded().length).toBe(before);
  });

  it('answers a client that sends its headers too slowly with 408 and closes', async () => {
    const started = Date.now();
    const parts = [Buffer.from('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n'), ...Array.from({ length: 20 }, () => [{ pauseMs: 400 }, Buffer.from('x-slow: 1\r\n')]).flat()];
    const answer = await rawRequest(port(b), parts, { awaitCloseMs: 1_000 });
    expect([answer.status, codeOf(answer), answer.closedByServer]).toEqual([408, 'request_timeout', true]);
    // HEADERS_TIMEOUT_SECONDS plus Node's once-a-second check, with room for a busy machine; the client trickles for 8 s.
    expect(Date.now() - started).toBeLessThan((LIMITS.HEADERS_TIMEOUT_SECONDS + 5) * 1000);
  });

  it('answers a client that stalls in its body with 408 and closes', async () => {
    const started = Date.now();
    const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-api-key: ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n`;
    const answer = await rawRequest(port(b), [Buffer.from(head), Buffer.from('{"model":'), { pauseMs: 10_000 }], { awaitCloseMs: 1_000 });
    expect([answer.status, codeOf(answer), answer.closedByServer]).toEqual([408, 'request_timeout', true]);
    // The client would stall for 10 s.
    expect(Date.now() - started).toBeLessThan((LIMITS.REQUEST_TIMEOUT_SECONDS + 5) * 1000);
  });

  it('closes connections over MAX_CONNECTIONS at once and serves again when one ends', async () => {
    const { connect } = await import('node:net');
    /**
     * A connection the server accepted (it answered a request and keeps the
     * connection alive, idle), or undefined when it closed it unanswered.
     */
    const idleConnection = () =>
      new Promise<import('node:net').Socket | undefined>((resolve) => {
        const s = connect(port(b), '127.0.0.1');
        s.on('error', () => undefined);
        s.once('close', () => resolve(undefined));
        s.once('data', () => resolve(s));
        s.once('connect', () => s.write(httpRequest('GET', '/livez', {})));
      });
    const held: import('node:net').Socket[] = [];
    // A keep-alive connection of an earlier test may still hold one place.
    for (let i = 0; i <= LIMITS.MAX_CONNECTIONS; i++) {
      const s = await idleConnection();
      if (!s) break;
      held.push(s);
    }
    expect(held.length).toBeGreaterThan(0);
    expect(held.length).toBeLessThanOrEqual(LIMITS.MAX_CONNECTIONS);
    expect(await idleConnection()).toBeUndefined();
    held.shift()!.destroy();
    await waitFor(async () => (await rawRequest(port(b), [httpRequest('GET', '/livez', { connection: 'close' })])).status === 200, 5_000, 'a free connection');
    for (const s of held) s.destroy();
  });
});

describe('logs and error bodies', () => {
  it('logs neither keys, tokens nor prompt text, at any log level', async () => {
    const token = await new SignJWT({ sub: 'tenant-canary', exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(JWT_SECRET));
    const wrongKey = 'sk-wrong-canary-0d41c88f29';
    const client = (apiKey: string) => new OpenAI({ baseURL: `${a.url}/v1`, apiKey, maxRetries: 0 });
    const stream = await client(KEY).chat.completions.create({ model: MODEL, stream: true, max_tokens: 4, messages: [{ role: 'user', content: PROMPT }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(expectedTokens(4));
    const rids: string[] = [];
    for (const headers of [{ authorization: `Bearer ${token}` }, { 'x-api-key': KEY }] as Array<Record<string, string>>) {
      const res = await fetch(`${a.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: chatBody() });
      expect(res.status).toBe(200);
      rids.push(res.headers.get('x-request-id')!);
    }
    await expect(client(wrongKey).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    expect((await raw(a, 'POST', '/v1/chat/completions', { 'x-api-key': KEY }, `{"messages":"${PROMPT}`)).status).toBe(400);
    expect((await raw(a, 'POST', `/v1/${PROMPT.replace(/ /g, '-')}`, { 'x-api-key': KEY }, chatBody())).status).toBe(404);
    // The lines are written when each request completes, in order: once a request sent after all the
    // others has its line, every line of theirs has come through the pipe too.
    const last = await fetch(`${a.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, body: chatBody() });
    expect(last.status).toBe(200);
    await last.text();
    rids.push(last.headers.get('x-request-id')!);
    await waitFor(() => rids.every((rid) => a.output().includes(rid)), 5_000, 'the request lines');
    const logs = `${a.output()}\n${dispatcher.output()}`;
    // The capture works: both processes logged, at trace level.
    expect(a.output()).toContain('"principal":"tenant:tenant-canary"');
    expect(dispatcher.output()).toContain('dispatcher started');
    for (const secret of [KEY, wrongKey, token, token.split('.')[2]!, ENGINE_KEY, JWT_SECRET, 'PROMPT-CANARY']) {
      expect(logs.includes(secret), `logs contain ${secret.slice(0, 12)}…`).toBe(false);
    }
  });

  it('never puts a stack trace in an error body, not even when the request fails inside the ingress', async () => {
    const stackLike = /\n\s+at |node_modules|\/work\/|\.ts:\d+|Error: /;
    expect(errorBodies.length).toBeGreaterThan(20);
    for (const body of errorBodies) expect(body).not.toMatch(stackLike);
    // Take Redis away: the request path fails inside the ingress.
    await redis.kill();
    const answer = await raw(a, 'POST', '/v1/chat/completions', { 'x-api-key': KEY, 'content-type': 'application/json' }, chatBody());
    expect(answer.status).toBeGreaterThanOrEqual(500);
    expect(JSON.parse(answer.body)).toEqual({ error: { message: expect.any(String), type: 'server_error', param: null, code: expect.any(String) } });
    expect(answer.body).not.toMatch(stackLike);
  });
});
