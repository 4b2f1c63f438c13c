import type { TokenUsage } from '@infergate/shared';

/** How far from either end of an answer its figures can be: usage and timings sit in its last (or, for Anthropic streams, first) event. */
export const EDGE_BYTES = 4096;

const EVENT_START = Buffer.from('\ndata:');
const DONE_EVENT = /\ndata: ?\[DONE\]/;

/*
 * Field patterns, matched on the raw bytes of an answer's edges. A key
 * inside a JSON string is escaped (`\"prompt_tokens\"`), so these match the
 * engine's own fields only; the last match is the final figure (vLLM's
 * continuous usage repeats a growing total).
 */
const field = (name: string) => new RegExp(`"${name}"\\s*:\\s*(\\d+)`, 'g');
const PROMPT = [field('prompt_tokens'), field('input_tokens')];
const CACHED = [field('cached_tokens'), field('cache_read_input_tokens')];
const COMPLETION = [field('completion_tokens'), field('output_tokens')];
const LLAMA_PROMPT_N = field('prompt_n');
const LLAMA_CACHE_N = field('cache_n');
const LLAMA_PREDICTED_N = field('predicted_n');

function lastMatch(patterns: readonly RegExp[], text: string): number | undefined {
  for (const re of patterns) {
    let value: number | undefined;
    for (const m of text.matchAll(re)) value = Number(m[1]);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The first match of the tail, else of the head: an Anthropic stream states its input tokens only at the start. */
function figure(patterns: readonly RegExp[], tail: string, head: string): number | undefined {
  return lastMatch(patterns, tail) ?? lastMatch(patterns, head);
}

/**
 * Watches one answer's bytes on their way to the client, without copying or
 * parsing them per chunk: it keeps references to the first and last chunks
 * (EDGE_BYTES each) and, for a stream, counts `data:` events with a native
 * search. At the end it reads the engine's own figures from those edges:
 * OpenAI and Anthropic `usage`, else llama.cpp's `timings`. Where the engine
 * reported nothing (a vLLM stream without `stream_options.include_usage`),
 * the completion tokens are the content events counted, marked estimated.
 */
export class AnswerWatcher {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private events = 0;
  /** The last bytes seen, too few to hold an event start; a stream begins as if after a newline. */
  private carry: Buffer = Buffer.from('\n');

  constructor(
    private readonly stream: boolean,
    /** Events of the stream that carry no token (see framingEventsOf). */
    private readonly framingEvents: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.headBytes < EDGE_BYTES) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.length >= EDGE_BYTES) this.tailBytes -= this.tail.shift()!.length;
    if (this.stream) this.countEvents(chunk);
  }

  /** The answer's usage; undefined when it has neither figures nor events (an error body, a models list). */
  usage(): TokenUsage | undefined {
    const tail = edge(this.tail, -EDGE_BYTES);
    const head = edge(this.head, EDGE_BYTES);
    const prompt = figure(PROMPT, tail, head);
    const completion = figure(COMPLETION, tail, head);
    const cached = figure(CACHED, tail, head);
    const promptN = lastMatch([LLAMA_PROMPT_N], tail);
    const cacheN = lastMatch([LLAMA_CACHE_N], tail);
    const predictedN = lastMatch([LLAMA_PREDICTED_N], tail);
    if (prompt !== undefined || completion !== undefined) {
      return {
        prompt_tokens: prompt ?? (promptN ?? 0) + (cacheN ?? 0),
        cached_prompt_tokens: cached ?? cacheN ?? 0,
        completion_tokens: completion ?? predictedN ?? 0,
        estimated: false,
      };
    }
    if (promptN !== undefined || predictedN !== undefined) {
      // llama.cpp's prompt_n counts only the tokens it evaluated; cache_n the ones it reused.
      return { prompt_tokens: (promptN ?? 0) + (cacheN ?? 0), cached_prompt_tokens: cacheN ?? 0, completion_tokens: predictedN ?? 0, estimated: false };
    }
    if (!this.stream || this.events === 0) return undefined;
    const done = DONE_EVENT.test(`\n${tail}`) ? 1 : 0;
    return { prompt_tokens: 0, cached_prompt_tokens: 0, completion_tokens: Math.max(0, this.events - done - this.framingEvents), estimated: true };
  }

  private countEvents(chunk: Buffer): void {
    // An event start split across chunks: only a match that straddles the carried bytes and this chunk lies in this window.
    const window = Buffer.concat([this.carry, chunk.subarray(0, EVENT_START.length - 1)]);
    if (window.length >= EVENT_START.length && window.includes(EVENT_START)) this.events++;
    for (let at = chunk.indexOf(EVENT_START); at !== -1; at = chunk.indexOf(EVENT_START, at + EVENT_START.length)) this.events++;
    const keep = EVENT_START.length - 1;
    this.carry = chunk.length >= keep ? chunk.subarray(chunk.length - keep) : Buffer.concat([this.carry, chunk]).subarray(-keep);
  }
}

/** The first (`bytes` > 0) or last (`bytes` < 0) bytes of chunks, as text; latin1 keeps byte offsets and never fails. */
function edge(chunks: Buffer[], bytes: number): string {
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  const part = bytes > 0 ? all.subarray(0, bytes) : all.subarray(Math.max(0, all.length + bytes));
  return part.toString('latin1');
}

/**
 * The events of an uncounted answer that carry no token: a chat stream's
 * role opener. Only vLLM leaves figures out, and it puts the finish reason
 * on the last token's event (llama.cpp's separate finish event always comes
 * with timings, so it is never counted).
 */
export function framingEventsOf(path: string): number {
  return path.split('?')[0]!.endsWith('/chat/completions') ? 1 : 0;
}
