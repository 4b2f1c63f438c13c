import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { redisNames, type DispatcherState } from '@infergate/shared';
import { startSimulator, type SimulatorHandle } from '@infergate/sim';
import { startDispatcher, STARTUP_MS } from '../support/gate.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, waitFor, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * Issue 16.1-3 as a llama.cpp user meets them: the engine's read-only routes
 * and its web UI through the gateway, answered by an engine of the right
 * model without a slot; the engines' own model cards in /v1/models; every
 * non-admin POST route forwarded, every admin action refused before any
 * engine sees it. Two one-slot llama.cpp engines serve one model each.
 */

const KEY = 'sk-engine-routes-0123456789abcdef';
const auth = { authorization: `Bearer ${KEY}` };

let redis: TestRedis;
let prefix: string;
let ingress: IngressProcess;
let alpha: SimulatorHandle;
let beta: SimulatorHandle;
const dispatchers: Service[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  prefix = uniquePrefix();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix };
  const engine = { kind: 'llamacpp', slots: 1, ttftMs: 5, itlMs: 2, tokens: 8, webui: true } as const;
  alpha = await startSimulator({ ...engine, modelId: 'alpha' });
  beta = await startSimulator({ ...engine, modelId: 'beta' });
  ingress = await startIngressProcess({ ...env, API_KEYS: KEY, WEB_UI: 'true', QUEUE_WAIT_TIMEOUT_SECONDS: '30', ENGINE_READ_TIMEOUT_SECONDS: '1' });
  dispatchers.push(startDispatcher(env, alpha.url, 'd-alpha'), startDispatcher(env, beta.url, 'd-beta'));
  await waitForBackends(ingress.url, 2, STARTUP_MS);
}, 2 * STARTUP_MS);

afterAll(async () => {
  await Promise.all([ingress, ...dispatchers].filter(Boolean).map((s) => s.stop()));
  await Promise.all([alpha, beta].filter(Boolean).map((s) => s.close()));
  await redis?.stop();
});

async function get(base: string, path: string, headers: Record<string, string> = {}) {
  const res = await request(`${base}${path}`, { headers });
  return { status: res.statusCode, type: res.headers['content-type'], body: await res.body.text() };
}

async function post(path: string, body: unknown) {
  const res = await request(`${ingress.url}${path}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.statusCode, body: await res.body.text() };
}

/** Requests for `path` an engine has seen. */
const seen = (sim: SimulatorHandle, path: string) => sim.stats().byPath[path] ?? 0;

describe('read-only engine routes', () => {
  it('GET /props, /slots and /models return the bytes of the engine of the ?model= named, behind the credentials', async () => {
    for (const [sim, model] of [[alpha, 'alpha'], [beta, 'beta']] as const) {
      for (const path of ['/props', '/slots', '/models']) {
        const direct = await get(sim.url, path);
        const through = await get(ingress.url, `${path}?model=${model}`, auth);
        expect([through.status, through.type, through.body], `${path} ${model}`).toEqual([200, direct.type, direct.body]);
      }
    }
    expect(JSON.parse((await get(ingress.url, '/props?model=beta', auth)).body)).toMatchObject({ model_alias: 'beta' });
    expect((await get(ingress.url, '/props?model=alpha')).status).toBe(401);
    expect((await get(ingress.url, '/props?model=gamma', auth)).status).toBe(404);
    // Two models and none named: the gateway cannot tell which engine is meant.
    expect((await get(ingress.url, '/props', auth)).status).toBe(400);
  });

  it('GET /props answers at once while every slot of the fleet is busy and requests wait in the queue', async () => {
    alpha.configure({ tokens: 100_000, itlMs: 20 });
    beta.configure({ tokens: 100_000, itlMs: 20 });
    const controller = new AbortController();
    const stream = (model: string) =>
      request(`${ingress.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'long' }] }),
        signal: controller.signal,
      }).catch(() => undefined);
    const busy = ['alpha', 'beta'].map(stream);
    try {
      await waitFor(() => alpha.stats().processing === 1 && beta.stats().processing === 1, 20_000, 'both engines busy');
      const queued = stream('alpha');
      await waitFor(async () => (await get(ingress.url, '/health')).body.includes('"slots_free":0'), 20_000, 'no free slot');
      const started = performance.now();
      const props = await get(ingress.url, '/props?model=alpha', auth);
      const ms = performance.now() - started;
      expect(props.status).toBe(200);
      expect(JSON.parse(props.body)).toMatchObject({ model_alias: 'alpha', total_slots: 1 });
      // A read that waited for a slot would wait for a 100 000-token stream.
      expect(ms).toBeLessThan(2_000);
      // The queued request is still waiting: the read took no slot from it.
      expect(alpha.stats().processing).toBe(1);
      void queued;
    } finally {
      controller.abort();
      await Promise.all(busy);
      alpha.configure({ tokens: 8, itlMs: 2 });
      beta.configure({ tokens: 8, itlMs: 2 });
    }
  });

  it('serves the web UI and its asset without credentials, and not the UI helpers', async () => {
    for (const path of ['/', '/bundle.js']) {
      const direct = await get(alpha.url, path);
      const through = await get(ingress.url, `${path}?model=alpha`);
      expect([through.status, through.type, through.body], path).toEqual([200, direct.type, direct.body]);
    }
    expect((await get(ingress.url, '/')).body).toContain('<div id="app">');
    for (const path of ['/cors-proxy?url=http://169.254.169.254/', '/tools']) {
      expect((await get(ingress.url, path, auth)).status, path).toBe(404);
      expect((await post(path, { model: 'alpha', url: 'http://169.254.169.254/' })).status, path).toBe(404);
    }
    expect(seen(alpha, '/cors-proxy') + seen(beta, '/cors-proxy') + seen(alpha, '/tools') + seen(beta, '/tools')).toBe(0);
  });
});

describe('the model list', () => {
  it('keeps every field of the engine\'s model card and adds the gateway\'s', async () => {
    const engineCard = (JSON.parse((await get(alpha.url, '/v1/models')).body) as { data: Array<Record<string, unknown>> }).data[0]!;
    const list = JSON.parse((await get(ingress.url, '/v1/models', auth)).body) as { data: Array<Record<string, unknown>> };
    const card = list.data.find((m) => m.id === 'alpha');
    expect(card).toMatchObject(engineCard);
    expect(card).toHaveProperty('meta');
    expect(card).toMatchObject({ infergate: { engines: 1 } });
  });
});

describe('the route table', () => {
  it('forwards a POST route the built-in list never named, such as /chat/completions/input_tokens', async () => {
    const answer = await post('/chat/completions/input_tokens', { model: 'beta', messages: [{ role: 'user', content: 'how many tokens' }] });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ object: 'response.input_tokens', input_tokens: expect.any(Number) });
    expect(seen(beta, '/chat/completions/input_tokens')).toBe(1);
  });

  it('refuses engine admin actions with a 404 that no engine sees', async () => {
    const admin = ['/slots/0?action=erase', '/props', '/models/load', '/models/unload', '/lora-adapters', '/reset_prefix_cache', '/sleep', '/v1/load_lora_adapter', '/collective_rpc'];
    for (const path of admin) {
      const answer = await post(path, { model: 'alpha', id_slot: 0 });
      expect(answer.status, path).toBe(404);
      expect(JSON.parse(answer.body), path).toMatchObject({ error: { code: 'unsupported_path' } });
    }
    // A request sent after all of them reached its engine: had any admin action been forwarded, it would have been first.
    expect((await post('/tokenize', { model: 'alpha', content: 'after' })).status).toBe(200);
    // The dispatcher polls GET /props, so its count proves nothing; the gateway's own code above does (the engine says 501).
    for (const path of admin.filter((p) => p !== '/props')) expect(seen(alpha, path.split('?')[0]!), path).toBe(0);
  });

  it('answers an unknown path that names no model with the gateway\'s 404', async () => {
    const answer = await post('/v1/chat/complete', { messages: [] });
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'unsupported_path' } });
  });
});

describe('a dispatcher that does not answer a read', () => {
  /** Registers a dispatcher that listens on its read channel and never answers; resolves once the ingress counts it. */
  async function ghost(id: string, models: string[]) {
    const names = redisNames(prefix);
    const commands = new Redis(redis.url);
    const listener = new Redis(redis.url);
    const heard: string[] = [];
    await listener.subscribe(names.engineReadChannel(id));
    listener.on('message', (_channel: string, message: string) => heard.push(message));
    // Heartbeats from the future: live for the whole test without a ticker.
    const until = Date.now() + 120_000;
    const state: DispatcherState = {
      id, engineUrl: `http://ghost.invalid/${id}`, engineKind: 'llamacpp', models, ready: true,
      slots: { total: 1, busy: 0, free: 1 }, inFlight: 0, outsideLoad: 0, blockedBy: null, lastError: null,
      startedAt: Date.now(), updatedAt: until, draining: false,
    };
    await commands.set(names.dispatcherKey(id), JSON.stringify(state));
    await commands.zadd(names.dispatcherIndex, until, id);
    await waitFor(async () => (await get(ingress.url, '/health')).body.includes(id), 20_000, `${id} registered`);
    return {
      heard,
      async remove() {
        await commands.del(names.dispatcherKey(id));
        await commands.zrem(names.dispatcherIndex, id);
        commands.disconnect();
        listener.disconnect();
      },
    };
  }

  it('is given up on after ENGINE_READ_TIMEOUT_SECONDS and another dispatcher of the model answers; with none left the client gets a 504', async () => {
    const silent = await ghost('d-ghost', ['alpha', 'ghostly']);
    try {
      const direct = await get(alpha.url, '/props');
      // Targets are shuffled: ask until the silent one was asked first at least once.
      await waitFor(async () => {
        const through = await get(ingress.url, '/props?model=alpha', auth);
        expect([through.status, through.body]).toEqual([200, direct.body]);
        return silent.heard.length > 0;
      }, 30_000, 'a read sent to the silent dispatcher first');
      const started = performance.now();
      const answer = await get(ingress.url, '/props?model=ghostly', auth);
      expect([answer.status, JSON.parse(answer.body).error.code]).toEqual([504, 'dispatcher_silent']);
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      await silent.remove();
    }
  });
});
