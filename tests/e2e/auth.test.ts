import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisNames } from '@infergate/shared';
import { expectedTokens, startSimulator, type SimulatorHandle } from '@infergate/sim';
import { freePort } from '@infergate/stack';
import { startDispatcher } from '../support/gate.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, startService, waitFor, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * Authentication and per-key limits end to end: two ingress processes that
 * share one Redis (limits must hold across both), dispatchers and simulated
 * engines, and the official openai client as the caller.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KEYS = {
  plain: 'sk-auth-plain-0123456789',
  limited: 'sk-auth-limited-0123456789',
  pair: 'sk-auth-pair-0123456789ab',
  solo: 'sk-auth-solo-0123456789ab',
  low: 'sk-auth-low-0123456789abc',
  high: 'sk-auth-high-0123456789ab',
};
const POLICIES = {
  limited: { rpm: 4 },
  pair: { concurrent: 2 },
  solo: { concurrent: 1 },
  low: { priority: 'low' },
  high: { priority: 'high' },
  acme: { rpm: 2 },
};
const JWT_SECRET = 'auth-test-jwt-secret-0123456789abcdef';
/** How long the slots of a killed ingress stay taken. */
const LEASE_SECONDS = 2;

let redis: TestRedis;
let prefix: string;
const sims: SimulatorHandle[] = [];
const services: Service[] = [];
let a: IngressProcess;
let b: IngressProcess;
let ingressEnv: Record<string, string>;

beforeAll(async () => {
  redis = await startTestRedis();
  prefix = uniquePrefix();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix };
  const fast = await startSimulator({ kind: 'llamacpp', slots: 8, ttftMs: 5, itlMs: 2, tokens: 16, modelId: 'fast' });
  const long = await startSimulator({ kind: 'llamacpp', slots: 8, ttftMs: 5, itlMs: 50, tokens: 400, modelId: 'long' });
  const serial = await startSimulator({ kind: 'llamacpp', slots: 1, ttftMs: 5, itlMs: 20, tokens: 100, modelId: 'serial' });
  sims.push(fast, long, serial);
  for (const sim of sims) services.push(startDispatcher(env, sim.url, sim.config().modelId));
  const dir = mkdtempSync(join(tmpdir(), 'ig-auth-'));
  const keyFile = join(dir, 'api_keys');
  writeFileSync(keyFile, `# one key per line, named\n${Object.entries(KEYS).map(([name, key]) => `${name}:${key}`).join('\n')}\n`);
  ingressEnv = {
    ...env,
    API_KEYS_FILE: keyFile,
    JWT_SECRET,
    KEY_POLICIES: JSON.stringify(POLICIES),
    KEY_LEASE_SECONDS: String(LEASE_SECONDS),
    ALLOW_OPEN_ACCESS: 'false',
  };
  [a, b] = await Promise.all([startIngressProcess({ ...ingressEnv, INGRESS_ID: 'a' }), startIngressProcess({ ...ingressEnv, INGRESS_ID: 'b' })]);
  await Promise.all([a, b].map((ing) => waitForBackends(ing.url, sims.length)));
}, 120_000);

afterAll(async () => {
  await Promise.all([a, b, ...services].filter(Boolean).map((s) => s.stop()));
  await Promise.all(sims.map((s) => s.close()));
  await redis?.stop();
});

function client(ingress: IngressProcess, apiKey: string): OpenAI {
  return new OpenAI({ baseURL: `${ingress.url}/v1`, apiKey, maxRetries: 0 });
}

function post(ingress: IngressProcess, headers: Record<string, string>, body: object, signal?: AbortSignal): Promise<Response> {
  return fetch(`${ingress.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
    ...(signal ? { signal } : {}),
  });
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** A stream that holds its key's concurrency slot until aborted (or it ends after ~20 s). */
async function hold(ingress: IngressProcess, key: string): Promise<AbortController> {
  const abort = new AbortController();
  const res = await post(ingress, bearer(key), { model: 'long', stream: true }, abort.signal);
  expect(res.status).toBe(200);
  res.body!.getReader().read().catch(() => undefined);
  return abort;
}

async function errorOf(res: Response): Promise<{ status: number; code: string; retryAfter: string | null; body: string }> {
  const body = await res.text();
  return { status: res.status, code: (JSON.parse(body) as { error: { code: string } }).error.code, retryAfter: res.headers.get('retry-after'), body };
}

describe('start-up', () => {
  it('refuses to run a production ingress without keys, and runs open only when told, warning', async () => {
    const refused = startService('ingress', { REDIS_URL: redis.url, REDIS_PREFIX: prefix, PORT: String(await freePort()), HOST: '127.0.0.1' });
    expect(await refused.exited).toBe(78);
    expect(refused.output()).toMatch(/no API_KEYS .* ALLOW_OPEN_ACCESS=true/s);
    const open = await startIngressProcess({ REDIS_URL: redis.url, REDIS_PREFIX: prefix, ALLOW_OPEN_ACCESS: 'true' });
    try {
      expect(open.output()).toMatch(/"level":40.*OPEN ACCESS/);
      expect((await post(open, {}, { model: 'fast', max_tokens: 2 })).status).toBe(200);
    } finally {
      await open.stop();
    }
  }, 60_000);

  it('lets the local `npm start` stack run open without keys, saying so, and keyed when keys are set', async () => {
    const fast = sims[0]!;
    const stack = async (extra: Record<string, string>) => {
      const port = await freePort();
      const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=development', join(ROOT, 'infra/stack/src/main.ts')], {
        cwd: ROOT,
        env: { ...process.env, REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), BACKENDS: fast.url, PORT: String(port), LOG_LEVEL: 'warn', ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor(() => out.includes('[stack] ready'), 60_000, `the stack on ${port}: ${out}`);
      return { url: `http://127.0.0.1:${port}`, output: () => out, stop: () => new Promise((r) => child.once('exit', r).kill('SIGTERM')) };
    };
    const [open, keyed] = await Promise.all([stack({}), stack({ API_KEYS: KEYS.plain })]);
    try {
      expect(open.output()).toContain('OPEN ACCESS');
      expect(keyed.output()).not.toContain('OPEN ACCESS');
      const ask = (url: string, headers: Record<string, string>) =>
        fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"max_tokens":2,"messages":[{"role":"user","content":"hi"}]}' });
      expect((await ask(open.url, {})).status).toBe(200);
      expect((await ask(keyed.url, {})).status).toBe(401);
      expect((await ask(keyed.url, bearer(KEYS.plain))).status).toBe(200);
    } finally {
      await Promise.all([open.stop(), keyed.stop()]);
    }
  }, 90_000);
});

describe('API keys and JWT through the openai client', () => {
  it('serves a key from API_KEYS_FILE, as a bearer token or x-api-key', async () => {
    const stream = await client(a, KEYS.plain).chat.completions.create({ model: 'fast', stream: true, max_tokens: 7, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(expectedTokens(7));
    const res = await post(b, { 'x-api-key': KEYS.plain }, { model: 'fast', max_tokens: 3 });
    expect(res.status).toBe(200);
  });

  it('answers a wrong or missing key with an OpenAI-style 401, before reading the body', async () => {
    await expect(client(a, 'sk-not-a-configured-key-000').chat.completions.create({ model: 'fast', messages: [] })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
    const missing = await errorOf(await post(b, {}, { model: 'fast' }));
    expect(missing).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(JSON.parse(missing.body)).toEqual({ error: { message: expect.any(String), type: 'authentication_error', param: null, code: 'unauthorized' } });
    // Not even a body over the limit is read: the 401 comes first.
    const huge = await fetch(`${a.url}/v1/chat/completions`, { method: 'POST', body: Buffer.alloc(20 * 1024 * 1024) });
    expect(huge.status).toBe(401);
  });

  it('keeps probes open and /v1/models behind the key', async () => {
    for (const path of ['/health', '/livez', '/readyz']) expect((await fetch(`${a.url}${path}`)).status, path).toBe(200);
    expect((await fetch(`${a.url}/v1/models`)).status).toBe(401);
    const models = await client(a, KEYS.plain).models.list();
    expect(models.data.map((m) => m.id).sort()).toEqual(['fast', 'long', 'serial']);
  });

  it('accepts a JWT naming its tenant, whose policy then applies across both nodes', async () => {
    const token = (exp: number) => new SignJWT({ sub: 'acme', exp }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(JWT_SECRET));
    const valid = await token(Math.floor(Date.now() / 1000) + 300);
    const answer = await client(a, valid).chat.completions.create({ model: 'fast', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.choices[0]!.message.content).toBe(expectedTokens(4));
    expect((await post(b, bearer(valid), { model: 'fast', max_tokens: 2 })).status).toBe(200);
    expect(await errorOf(await post(a, bearer(valid), { model: 'fast', max_tokens: 2 }))).toMatchObject({ status: 429, code: 'rate_limited' });
    const expired = await errorOf(await post(a, bearer(await token(Math.floor(Date.now() / 1000) - 600)), { model: 'fast' }));
    expect(expired).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(expired.body).toContain('expired');
  });
});

describe('per-key limits across ingress nodes', () => {
  it('counts requests per minute over both nodes and answers 429 with Retry-After', async () => {
    const statuses: number[] = [];
    for (const ingress of [a, b, a, b]) statuses.push((await post(ingress, bearer(KEYS.limited), { model: 'fast', max_tokens: 2 })).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    const refused = await errorOf(await post(b, bearer(KEYS.limited), { model: 'fast', max_tokens: 2 }));
    expect(refused).toMatchObject({ status: 429, code: 'rate_limited' });
    // One request per 15 s after the burst.
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(14);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(15);
    // Other keys are not affected.
    expect((await post(b, bearer(KEYS.plain), { model: 'fast', max_tokens: 2 })).status).toBe(200);
  });

  it('caps open requests over both nodes and gives a slot back when a client disconnects', async () => {
    const first = await hold(a, KEYS.pair);
    const second = await hold(b, KEYS.pair);
    const refused = await errorOf(await post(a, bearer(KEYS.pair), { model: 'fast', max_tokens: 2 }));
    expect(refused).toMatchObject({ status: 429, code: 'concurrency_limited', retryAfter: '1' });
    first.abort();
    await waitFor(async () => (await post(b, bearer(KEYS.pair), { model: 'fast', max_tokens: 2 })).status === 200, 5_000, 'a slot back');
    second.abort();
  });

  it('gives back the slots of an ingress that died, once their lease runs out', async () => {
    const doomed = await startIngressProcess({ ...ingressEnv, INGRESS_ID: 'doomed' });
    await hold(doomed, KEYS.solo);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    expect(await errorOf(await post(a, bearer(KEYS.solo), { model: 'fast', max_tokens: 2 }))).toMatchObject({ code: 'concurrency_limited' });
    const started = Date.now();
    await waitFor(async () => (await post(a, bearer(KEYS.solo), { model: 'fast', max_tokens: 2 })).status === 200, 10_000, 'the lease to expire');
    // Far sooner than the 30 s default lease; the slack is for a busy machine.
    expect(Date.now() - started).toBeLessThan((LEASE_SECONDS + 6) * 1000);
  }, 60_000);

  it('starts a high-priority key’s queued request before earlier low-priority ones', async () => {
    const connection = new Redis(redis.url);
    const queue = new Queue(redisNames(prefix).queueName('serial'), { connection, prefix: redisNames(prefix).bullPrefix });
    try {
      const busy = await post(a, bearer(KEYS.plain), { model: 'serial', stream: true, max_tokens: 40 });
      const order: string[] = [];
      const send = (name: 'low' | 'high', ingress: IngressProcess) =>
        post(ingress, bearer(KEYS[name]), { model: 'serial', max_tokens: 1 }).then(async (res) => {
          expect(res.status).toBe(200);
          await res.text();
          order.push(name);
        });
      const lows = [send('low', a), send('low', b), send('low', a)];
      await waitFor(async () => (await queue.getJobCountByTypes('waiting', 'prioritized')) === 3, 5_000, 'three queued low-priority jobs');
      const high = send('high', b);
      await busy.text();
      await Promise.all([...lows, high]);
      expect(order).toEqual(['high', 'low', 'low', 'low']);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});
