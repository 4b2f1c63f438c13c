import { describe, expect, it } from 'vitest';
import { cacheFigures, ResponseTail, TAIL_BYTES } from './engineCacheFigures.js';

describe("engines' cache figures from the tail of an answer", () => {
  it("reads llama.cpp's final timings from a stream's last event", () => {
    const last = 'data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"timings":{"cache_n":96,"prompt_n":24,"prompt_ms":12.1}}\n\ndata: [DONE]\n\n';
    expect(cacheFigures(Buffer.from(last))).toEqual({ cached: 96, evaluated: 24, promptMs: 12.1 });
  });

  it('reads OpenAI-style usage with cached tokens (vLLM)', () => {
    const body = '{"usage":{"prompt_tokens":120,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":96}}}';
    expect(cacheFigures(Buffer.from(body))).toEqual({ cached: 96, evaluated: 24 });
  });

  it('has nothing to say about an answer without them', () => {
    expect(cacheFigures(Buffer.from('{"usage":{"prompt_tokens":3}}'))).toBeUndefined();
    expect(cacheFigures(Buffer.from('data: [DONE]\n\n'))).toBeUndefined();
  });

  it('keeps the last TAIL_BYTES of a response across chunks, whatever their sizes', () => {
    const tail = new ResponseTail();
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.from(`chunk ${i} `.repeat(40)));
    for (const c of chunks) tail.push(c);
    const whole = Buffer.concat(chunks);
    expect(tail.value.equals(whole.subarray(whole.length - TAIL_BYTES))).toBe(true);
    const small = new ResponseTail();
    small.push(Buffer.from('ab'));
    small.push(Buffer.from('cd'));
    expect(small.value.toString()).toBe('abcd');
  });
});
