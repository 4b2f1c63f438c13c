/* Replays a captured request against a simulator and compares what comes back with what the engine sent. */
import type { IncomingHttpHeaders } from 'node:http';
import { expect } from 'vitest';
import { type Capture, loadCapture } from './capture.js';
import { fetchRaw, type Exchange } from './client.js';
import { sseEvents, type SseEvent } from './sse.js';

export async function replay(url: string, name: string): Promise<{ capture: Capture; response: Exchange }> {
  const capture = loadCapture(name);
  const request = capture.request;
  if (!request) throw new Error(`${name} has no replayable request`);
  const response = await fetchRaw(url, request.path, { method: request.method, body: request.body });
  return { capture, response };
}

// Values that differ between any two runs of the engine itself.
const RUN_SPECIFIC = new Set(['content-length', 'process-start-time-unix', 'access-control-allow-origin']);

/** Every header of the capture is present, with the same value unless it is run-specific. */
export function expectHeadersLike(capture: Capture, headers: IncomingHttpHeaders): void {
  for (const [name, value] of capture.headers) {
    const key = name.toLowerCase();
    expect(headers, `header ${name}`).toHaveProperty(key);
    if (!RUN_SPECIFIC.has(key)) expect(headers[key], `header ${name}`).toBe(value);
  }
}

/** What an SSE event is in the stream's grammar: role, content, finish, usage or [DONE]. */
export function eventKind(e: SseEvent): string {
  if (e.done) return '[DONE]';
  const { json } = e;
  const choices = json.choices as Array<Record<string, unknown>> | undefined;
  const choice = choices?.[0];
  if (choices && !choice) return 'usage';
  if ((choice?.delta as Record<string, unknown> | undefined)?.role) return 'role';
  if (choice?.finish_reason || json.stop === true) return 'finish';
  return 'content';
}

export function contentOf(e: SseEvent): string {
  if (e.done) return '';
  const choice = (e.json.choices as Array<Record<string, unknown>> | undefined)?.[0];
  const delta = choice?.delta as Record<string, unknown> | undefined;
  const text = delta?.content ?? choice?.text ?? e.json.content;
  return typeof text === 'string' ? text : '';
}

export const eventsOf = (body: Buffer | string): SseEvent[] => sseEvents(body.toString());
