/* Test-side view of an SSE body: strict framing check, then the events. */

/** The `data:` payloads of `body`, failing on anything but `data: <payload>\n\n` framing. */
export function sseData(body: string): string[] {
  if (!body.endsWith('\n\n')) throw new Error(`SSE body does not end with a blank line: ${JSON.stringify(body.slice(-40))}`);
  return body
    .slice(0, -2)
    .split('\n\n')
    .map((e) => {
      if (!e.startsWith('data: ') || e.includes('\n')) throw new Error(`not a single-line data event: ${JSON.stringify(e)}`);
      return e.slice(6);
    });
}

export type SseEvent = { readonly done: true } | { readonly done: false; readonly json: Record<string, unknown> };

export function sseEvents(body: string): SseEvent[] {
  return sseData(body).map((d) => (d === '[DONE]' ? { done: true } : { done: false, json: JSON.parse(d) as Record<string, unknown> }));
}
