/** Prompt tokens an engine reused from its cache, and those it evaluated, for one answer. */
export interface CacheFigures {
  readonly cached: number;
  readonly evaluated: number;
  /** Time the engine spent evaluating the `evaluated` tokens (llama.cpp `timings.prompt_ms`; vLLM does not say). */
  readonly promptMs?: number;
}

/** How far from the end of an answer its figures can be: the last event of a stream, or a JSON body's tail. */
export const TAIL_BYTES = 4096;

const LLAMA_CACHE = /"cache_n"\s*:\s*(\d+)/g;
const LLAMA_PROMPT = /"prompt_n"\s*:\s*(\d+)/g;
const LLAMA_PROMPT_MS = /"prompt_ms"\s*:\s*(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/g;
const OPENAI_CACHED = /"cached_tokens"\s*:\s*(\d+)/g;
const OPENAI_PROMPT = /"prompt_tokens"\s*:\s*(\d+)/g;

function lastMatch(re: RegExp, text: string): number | undefined {
  let value: number | undefined;
  for (const m of text.matchAll(re)) value = Number(m[1]);
  return value;
}

/**
 * Reads the engine's own cache figures from the last bytes of its answer,
 * without parsing the stream: llama.cpp's final `timings` (`cache_n` reused,
 * `prompt_n` evaluated in `prompt_ms`), else OpenAI-style usage as vLLM reports it
 * (`prompt_tokens_details.cached_tokens` of `prompt_tokens`). Undefined when
 * the tail has neither (usage not requested, or another kind of answer).
 */
export function cacheFigures(tail: Buffer): CacheFigures | undefined {
  const text = tail.toString('latin1');
  const promptN = lastMatch(LLAMA_PROMPT, text);
  const cacheN = lastMatch(LLAMA_CACHE, text);
  if (promptN !== undefined && cacheN !== undefined) {
    const promptMs = lastMatch(LLAMA_PROMPT_MS, text);
    return promptMs === undefined ? { cached: cacheN, evaluated: promptN } : { cached: cacheN, evaluated: promptN, promptMs };
  }
  const prompt = lastMatch(OPENAI_PROMPT, text);
  const cached = lastMatch(OPENAI_CACHED, text);
  if (prompt !== undefined && cached !== undefined) return { cached, evaluated: Math.max(0, prompt - cached) };
  return undefined;
}

/**
 * Keeps the last TAIL_BYTES of a response by holding references to its last
 * chunks: nothing is copied per chunk, only once at the end.
 */
export class ResponseTail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= TAIL_BYTES) this.bytes -= this.chunks.shift()!.length;
  }

  get value(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.length > TAIL_BYTES ? all.subarray(all.length - TAIL_BYTES) : all;
  }
}
