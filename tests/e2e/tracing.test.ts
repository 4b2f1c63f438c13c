import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlpReceiver.js';
import { waitFor } from '../support/services.js';

/*
 * OpenTelemetry traces across the queue: an ingress and a dispatcher as two
 * processes exporting OTLP/JSON to a receiver in this process, a simulated
 * llama.cpp engine that records the trace headers it was sent. One request
 * is one trace: the ingress's request span (the child of the client's
 * traceparent), its admission and relay, the dispatcher's queue wait and
 * engine call, and the engine's request in the same trace.
 */

const MODEL = 'traced-model';
/** Words of the prompt that must never reach a span. */
const PROMPT = 'zebra-quartz-prompt-marker';

let fleet: TestFleet;
let receiver: OtlpReceiver;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' };
  fleet = await startTestFleet({
    sims: [{ kind: 'llamacpp', modelId: MODEL, slots: 2, ttftMs: 30, itlMs: 2, tokens: 8 }],
    dispatcherEnv: tracing,
    ingressEnv: tracing,
  });
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await receiver?.close();
});

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

async function chat(headers: Record<string, string>, stream: boolean): Promise<Response> {
  const res = await fetch(`${fleet.ingresses[0]!.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: MODEL, stream, max_tokens: 8, messages: [{ role: 'user', content: PROMPT }] }),
  });
  await res.text();
  return res;
}

/** The five spans of one request, once both processes have exported them. */
async function traceOf(traceId: string): Promise<Record<string, ReceivedSpan>> {
  const named = (spans: ReceivedSpan[]) => Object.fromEntries(spans.map((s) => [s.name, s]));
  return waitFor(() => {
    const spans = named(receiver.spansOf(traceId));
    return ['POST /v1/chat/completions', 'admission', 'relay', 'queue wait', `chat ${MODEL}`].every((n) => spans[n]) ? spans : undefined;
  }, 20_000, `the spans of trace ${traceId}: ${receiver.spansOf(traceId).map((s) => s.name).join(', ')}`);
}

describe('tracing', () => {
  it('makes one trace of a request across ingress, queue, dispatcher and engine, parented on the client traceparent', async () => {
    const traceId = hex(16);
    const clientSpan = hex(8);
    const res = await chat({ traceparent: `00-${traceId}-${clientSpan}-01`, tracestate: 'vendor=client' }, true);
    expect(res.status).toBe(200);
    const spans = await traceOf(traceId);
    const request = spans['POST /v1/chat/completions']!;
    const engineCall = spans[`chat ${MODEL}`]!;

    expect(request.service).toBe('infergate-ingress');
    expect(request.parentSpanId).toBe(clientSpan);
    expect(request.attributes).toMatchObject({
      'gen_ai.request.model': MODEL,
      'gen_ai.operation.name': 'chat',
      'http.response.status_code': 200,
      'infergate.finish': 'completed',
      'infergate.dispatcher': 'd0',
    });
    for (const name of ['admission', 'relay']) {
      expect(spans[name]!.service).toBe('infergate-ingress');
      expect(spans[name]!.parentSpanId).toBe(request.spanId);
    }
    expect(spans.relay!.events).toContain('first_chunk');

    const wait = spans['queue wait']!;
    expect(wait.service).toBe('infergate-dispatcher');
    expect(wait.parentSpanId).toBe(request.spanId);
    expect(wait.attributes).toMatchObject({ 'infergate.queue.lane': 'shared', 'infergate.queue.priority': expect.any(Number), 'gen_ai.request.model': MODEL });
    // The wait began at the enqueue, after admission, and ended when the engine call began.
    expect(wait.startMs).toBeGreaterThanOrEqual(spans.admission!.startMs);
    expect(wait.endMs).toBeLessThanOrEqual(engineCall.startMs + 1);

    expect(engineCall.service).toBe('infergate-dispatcher');
    expect(engineCall.parentSpanId).toBe(request.spanId);
    expect(engineCall.attributes).toMatchObject({
      'gen_ai.request.model': MODEL,
      'gen_ai.provider.name': 'llamacpp',
      'gen_ai.usage.output_tokens': 8,
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
      'infergate.finish': 'served',
    });
    expect(engineCall.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(engineCall.attributes['infergate.engine.time_to_first_chunk_ms']).toBeGreaterThan(0);
    expect(engineCall.events).toEqual(expect.arrayContaining(['response_head', 'first_chunk']));
    expect(request.attributes['gen_ai.usage.output_tokens']).toBe(8);

    // The engine was asked within the same trace, by the engine call span.
    const seen = fleet.sims[0]!.traceContexts().find((t) => t.traceparent.includes(traceId));
    expect(seen?.traceparent).toBe(`00-${traceId}-${engineCall.spanId}-01`);
    expect(seen?.tracestate).toBe('vendor=client');
    expect(seen?.requestId).toBe(request.attributes['infergate.request_id']);
  });

  it('starts a trace of its own for a request without traceparent, one per request', async () => {
    const before = new Set(receiver.spans.map((s) => s.traceId));
    await Promise.all([chat({}, false), chat({}, true)]);
    const roots = await waitFor(() => {
      const found = receiver.spans.filter((s) => s.name === 'POST /v1/chat/completions' && !before.has(s.traceId));
      return found.length === 2 ? found : undefined;
    }, 20_000, 'two new request spans');
    expect(roots.every((s) => s.parentSpanId === '')).toBe(true);
    expect(new Set(roots.map((s) => s.traceId)).size).toBe(2);
    for (const root of roots) {
      const spans = await traceOf(root.traceId);
      expect(spans[`chat ${MODEL}`]!.parentSpanId).toBe(root.spanId);
      expect(fleet.sims[0]!.traceContexts().some((t) => t.traceparent === `00-${root.traceId}-${spans[`chat ${MODEL}`]!.spanId}-01`)).toBe(true);
    }
  });

  it('puts a refused request in a trace too, with its error code', async () => {
    const traceId = hex(16);
    const res = await fetch(`${fleet.ingresses[0]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${hex(8)}-01` },
      body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: PROMPT }] }),
    });
    expect(res.status).toBe(404);
    const request = await waitFor(() => receiver.spansOf(traceId).find((s) => s.name === 'POST /v1/chat/completions'), 20_000, 'the refused request span');
    expect(request.statusCode).toBe(2);
    expect(request.attributes).toMatchObject({ 'error.type': 'model_not_found', 'http.response.status_code': 404 });
  });

  it('never exports a prompt or an answer', async () => {
    await waitFor(() => receiver.bodies.length > 0, 20_000, 'exports');
    const everything = Buffer.concat(receiver.bodies.map((b) => b.body)).toString();
    expect(everything).not.toContain(PROMPT);
    expect(everything).not.toContain('"content"');
  });
});
