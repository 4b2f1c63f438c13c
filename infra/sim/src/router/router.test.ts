import { afterEach, describe, expect, it } from 'vitest';
import { expectedTokens } from '../content.js';
import { startRouterSimulator, type RouterHandle } from './index.js';

/* The router personality against llama.cpp's router-mode behaviour (server-models.cpp). */

const routers: RouterHandle[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

async function router(loadMs = 0): Promise<RouterHandle> {
  const r = await startRouterSimulator({ models: ['a', 'b'], loadMs, child: { slots: 3, tokens: 3, ttftMs: 0, itlMs: 0 } });
  routers.push(r);
  return r;
}

interface Answer {
  readonly status: number;
  // The router's JSON answers, read field by field below.
  readonly body: { data: Array<{ id: string; status: { value: string } }>; total_slots?: number; length: number } & Record<string, unknown>;
}

async function get(r: RouterHandle, path: string): Promise<Answer> {
  const res = await fetch(`${r.url}${path}`);
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const chat = (r: RouterHandle, model: string) =>
  fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });

describe('llama.cpp router personality', () => {
  it('is healthy with no model loaded and lists its models with their status', async () => {
    const r = await router();
    expect(await get(r, '/health')).toEqual({ status: 200, body: { status: 'ok' } });
    const models = await get(r, '/v1/models');
    expect(models.body.data.map((m) => [m.id, m.status.value])).toEqual([['a', 'unloaded'], ['b', 'unloaded']]);
    const props = await get(r, '/props');
    expect(props.body).toMatchObject({ role: 'router', model_path: 'none' });
    expect(props.body.total_slots).toBeUndefined();
  });

  it('answers a proxied GET without ?model=, or for an unloaded model with autoload=false, with a 400 and loads nothing', async () => {
    const r = await router();
    expect(await get(r, '/slots')).toMatchObject({ status: 400, body: { error: { message: 'model name is missing from the request' } } });
    expect(await get(r, '/slots?model=a&autoload=false')).toMatchObject({ status: 400, body: { error: { message: 'model is not loaded' } } });
    expect(await get(r, '/slots?model=zzz')).toMatchObject({ status: 400 });
    expect(r.status('a')).toBe('unloaded');
  });

  it('loads a model on the first request that names it (loading meanwhile), then proxies to its own child', async () => {
    const r = await router(200);
    const answer = chat(r, 'b');
    await expect.poll(() => r.status('b')).toBe('loading');
    const res = await answer;
    const body = (await res.json()) as { model: string; choices: Array<{ message: { content: string } }> };
    expect([res.status, body.model, body.choices[0]!.message.content]).toEqual([200, 'b', expectedTokens(3)]);
    expect([r.status('a'), r.status('b')]).toEqual(['unloaded', 'loaded']);
    const slots = await get(r, '/slots?model=b&autoload=false');
    expect([slots.status, slots.body.length]).toEqual([200, 3]);
    expect((await get(r, '/props?model=b')).body.total_slots).toBe(3);
    expect(r.stats('b')?.requests).toBe(1);
  });

  it('loads and unloads through /models/load and /models/unload', async () => {
    const r = await router();
    const post = (path: string) => fetch(`${r.url}${path}`, { method: 'POST', body: JSON.stringify({ model: 'a' }) });
    expect((await post('/models/load')).status).toBe(200);
    await expect.poll(() => r.status('a')).toBe('loaded');
    expect((await post('/models/unload')).status).toBe(200);
    expect(r.status('a')).toBe('unloaded');
  });
});
