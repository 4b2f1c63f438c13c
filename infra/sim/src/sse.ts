/*
 * SSE events as both engines frame them: `data: <json>\n\n`, no `event:`
 * or `id:` lines. Per-token events are pre-serialised once per request with
 * holes for the parts that change, so a token costs a few string joins
 * instead of a JSON.stringify of the whole chunk.
 */

export const DONE = 'data: [DONE]\n\n';

export function event(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

const hole = (i: number): string => `\u0000hole${i}\u0000`;

/**
 * Serialises `shape(holes)` once and returns a function that writes the same
 * event with each hole replaced by raw JSON text (an encoded string, a number…).
 */
export function eventTemplate(holes: number, shape: (holes: readonly string[]) => unknown): (...raw: string[]) => string {
  const markers = Array.from({ length: holes }, (_, i) => hole(i));
  let rest = `data: ${JSON.stringify(shape(markers))}\n\n`;
  const parts: string[] = [];
  for (const marker of markers) {
    const [before, after] = rest.split(JSON.stringify(marker));
    if (after === undefined) throw new Error('event template hole not found');
    parts.push(before!);
    rest = after;
  }
  parts.push(rest);
  return (...raw) => {
    let out = parts[0]!;
    for (let i = 0; i < holes; i++) out += raw[i]! + parts[i + 1]!;
    return out;
  };
}
