import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLogger,
  loadConfig,
  type CancelResult,
  type DispatcherRecord,
  type FleetStatus,
  type JobSummary,
  type OpenAIErrorBody,
  type QueueSummary,
} from '@infergate/shared';
import { startIngress, type IngressHandle } from '@infergate/ingress';
import { chat } from '../support/gate.js';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { waitFor } from '../support/services.js';

/*
 * The admin API end to end: an ingress process with ADMIN_API_KEY, a
 * dispatcher process and a simulated engine. Jobs are made to wait by
 * pausing their queue, the way an operator would for maintenance.
 */

const MODEL = 'org/admin-model';
const KEY = 'admin-test-key-0123456789';
const PROMPT = 'a secret prompt';
let fleet: TestFleet;
let ingressUrl: string;

beforeAll(async () => {
  fleet = await startTestFleet({
    sims: [{ kind: 'llamacpp', slots: 2, ttftMs: 10, itlMs: 20, tokens: 1000, modelId: MODEL }],
    ingressEnv: { ADMIN_API_KEY: KEY, METRICS_REQUIRE_ADMIN_KEY: 'true' },
  });
  ingressUrl = fleet.ingresses[0]!.url;
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
});

const modelPath = `/admin/api/queues/${encodeURIComponent(MODEL)}`;

interface List<T> {
  readonly data: T[];
}

/** One admin call; `T` is the body it should answer with (JSON, or the text of a non-JSON answer). */
async function admin<T>(method: string, path: string, headers: Record<string, string> = { authorization: `Bearer ${KEY}` }): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(`${ingressUrl}${path}`, { method, headers });
  const text = await res.text();
  return { status: res.status, body: (text.startsWith('{') ? JSON.parse(text) : text) as T, headers: res.headers };
}

function post(body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${ingressUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

describe('admin authentication', () => {
  it('refuses requests without the admin key with an OpenAI-style 401', async () => {
    const attempts: Array<Record<string, string>> = [{}, { 'x-api-key': 'wrong-key-0123456789' }, { authorization: 'Bearer nope' }];
    for (const headers of attempts) {
      const res = await admin<OpenAIErrorBody>('GET', '/admin/api/queues', headers);
      expect(res.status).toBe(401);
      expect(res.body.error).toMatchObject({ code: 'unauthorized', type: 'authentication_error' });
    }
    const ui = await admin<OpenAIErrorBody>('GET', '/admin/queues', {});
    expect(ui.status).toBe(401);
    expect(ui.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
  });

  it('accepts the key as a bearer token, x-api-key or basic-auth password', async () => {
    const basic = `Basic ${Buffer.from(`ops:${KEY}`).toString('base64')}`;
    const attempts: Array<Record<string, string>> = [{ authorization: `Bearer ${KEY}` }, { 'x-api-key': KEY }, { authorization: basic }];
    for (const headers of attempts) {
      expect((await admin<List<QueueSummary>>('GET', '/admin/api/queues', headers)).status).toBe(200);
    }
  });

  it('guards /metrics too when METRICS_REQUIRE_ADMIN_KEY is set', async () => {
    expect((await admin<OpenAIErrorBody>('GET', '/metrics', {})).status).toBe(401);
    const res = await admin<string>('GET', '/metrics', { 'x-api-key': KEY });
    expect(res.status).toBe(200);
    expect(res.body).toContain('infergate_requests_total');
  });

  it('has no admin surface at all without ADMIN_API_KEY', async () => {
    const ingress: IngressHandle = await startIngress(
      loadConfig('ingress', { ...fleet.env, ALLOW_OPEN_ACCESS: 'true' }),
      createLogger({ name: 'ingress', level: 'silent' }),
    );
    try {
      for (const url of ['/admin/api/queues', '/admin/queues', '/admin/queues/api/queues']) {
        const res = await ingress.app.inject({ method: 'GET', url, headers: { 'x-api-key': KEY } });
        expect(res.statusCode, url).toBe(404);
        expect(res.json().error.code).toBe('unsupported_path');
      }
      expect((await ingress.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    } finally {
      await ingress.close();
    }
  });
});

describe('admin API', () => {
  it('lists dispatchers with their last heartbeat, and the fleet status', async () => {
    const { body } = await admin<List<DispatcherRecord>>('GET', '/admin/api/dispatchers');
    const d0 = body.data.find((d) => d.id === 'd0')!;
    expect(d0).toMatchObject({ alive: true, state: { models: [MODEL], ready: true, slots: { total: 2 } } });
    expect(Date.now() - d0.lastHeartbeatAt).toBeLessThan(5_000);
    const status = await admin<FleetStatus>('GET', '/admin/api/status');
    expect(status.body.dispatchers).toMatchObject({ alive: 1, ready: 1, slots: { total: 2 } });
    expect(status.body.queues.map((q) => q.model)).toEqual([MODEL]);
  });

  it('pauses a queue, lists its waiting job without the prompt, and cancels it: the client gets an error at once', async () => {
    expect((await admin<QueueSummary>('POST', `${modelPath}/pause`)).body).toMatchObject({ model: MODEL, paused: true });
    const started = Date.now();
    const answer = post({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: PROMPT }] });

    const queue = await waitFor(async () => {
      const { body } = await admin<List<QueueSummary>>('GET', '/admin/api/queues');
      const q = body.data.find((x) => x.model === MODEL)!;
      return q.counts.waiting + q.counts.prioritized === 1 ? q : undefined;
    }, 10_000, 'a waiting job');
    expect(queue).toMatchObject({ paused: true, counts: { active: 0 } });

    const { body: jobs } = await admin<List<JobSummary>>('GET', `${modelPath}/jobs`);
    expect(jobs.data).toHaveLength(1);
    const job = jobs.data[0]!;
    expect(job).toMatchObject({ model: MODEL, dispatcher: null, path: '/v1/chat/completions', stream: false });
    expect(['waiting', 'prioritized']).toContain(job.state);
    expect(JSON.stringify(jobs)).not.toContain(PROMPT);

    const cancel = await admin<CancelResult>('POST', `/admin/api/jobs/${job.id}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ id: job.id, model: MODEL, action: 'removed', receivers: 1 });

    const res = await answer;
    expect(res.status).toBe(503);
    expect(res.headers.get('x-request-id')).toBe(job.id);
    expect((await res.json()).error).toMatchObject({ code: 'operator_cancelled', type: 'server_error' });
    expect(Date.now() - started).toBeLessThan(20_000);

    expect((await admin<QueueSummary>('POST', `${modelPath}/resume`)).body).toMatchObject({ paused: false });
    expect((await chat(ingressUrl, MODEL, 2)).status).toBe(200);
  });

  it('cancels a running stream: its dispatcher aborts it and the client gets an error event, not a hang', async () => {
    const hold = new AbortController();
    const res = await post({ model: MODEL, stream: true, messages: [{ role: 'user', content: PROMPT }] }, hold.signal);
    expect(res.status).toBe(200);
    const rid = res.headers.get('x-request-id')!;
    const body = res.text();

    const { body: jobs } = await admin<List<JobSummary>>('GET', `${modelPath}/jobs?state=active`);
    expect(jobs.data).toEqual([expect.objectContaining({ id: rid, state: 'active', dispatcher: 'd0', attempts: 1 })]);

    const cancel = await admin<CancelResult>('POST', `/admin/api/jobs/${rid}/cancel`);
    expect(cancel.body).toMatchObject({ id: rid, state: 'active', action: 'cancel_sent' });
    expect(cancel.body.receivers).toBeGreaterThanOrEqual(1);
    const timer = setTimeout(() => hold.abort(), 10_000);
    const text = await body;
    clearTimeout(timer);
    expect(text).toMatch(/data: \{"error":\{"message":"The request was cancelled by an operator\.".*"code":"operator_cancelled"\}\}\n\n$/);
  });

  it('answers bad parameters and unknown ids with OpenAI-style errors', async () => {
    const unknownModel = await admin<OpenAIErrorBody>('GET', '/admin/api/queues/no-such-model/jobs');
    expect(unknownModel.status).toBe(404);
    expect(unknownModel.body.error.code).toBe('model_not_found');
    const badState = await admin<OpenAIErrorBody>('GET', `${modelPath}/jobs?state=sleeping`);
    expect(badState.status).toBe(400);
    expect(badState.body.error).toMatchObject({ code: 'invalid_parameter', param: 'state' });
    const unknownJob = await admin<OpenAIErrorBody>('POST', '/admin/api/jobs/no-such-job/cancel');
    expect(unknownJob.status).toBe(404);
    expect(unknownJob.body.error.code).toBe('job_not_found');
  });
});
