import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AnswerWatcher, EDGE_BYTES, framingEventsOf } from './answerUsage.js';

/** The body of a recorded llama-server answer (infra/sim/fixtures/captures), as the engine sent it. */
function capturedBody(name: string): { path: string; stream: boolean; body: Buffer } {
  const raw = readFileSync(new URL(`../../infra/sim/fixtures/captures/${name}.http`, import.meta.url));
  const firstLine = raw.subarray(0, raw.indexOf('\n')).toString('utf8');
  const url = /(https?:\/\/\S+)\s*$/.exec(firstLine)![1]!;
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, headEnd).toString('latin1');
  const length = /content-length: (\d+)/i.exec(head)?.[1];
  const body = raw.subarray(headEnd + 4, length === undefined ? undefined : headEnd + 4 + Number(length));
  return { path: new URL(url).pathname, stream: /text\/event-stream/i.test(head), body };
}

/** Feeds `body` in pieces of `size` bytes, so event starts and figures fall across chunk boundaries. */
function watch(body: Buffer, stream: boolean, path: string, size: number) {
  const watcher = new AnswerWatcher(stream, framingEventsOf(path));
  for (let at = 0; at < body.length; at += size) watcher.push(body.subarray(at, at + size));
  return watcher.usage();
}

const SIZES = [1, 7, 64, 100_000];

describe('AnswerWatcher on recorded llama-server answers', () => {
  it.each([
    // name, prompt (prompt_n + cache_n or usage.prompt_tokens), cached, completion
    ['chat-stream', 49, 48, 8],
    ['chat-stream-usage', 49, 48, 8],
    ['chat-nonstream', 49, 0, 24],
    ['completion-stream', 5, 4, 6],
    ['completion-nonstream', 5, 1, 16],
    ['v1-completions-stream', 5, 4, 6],
    ['v1-completions-stream-nousage', 5, 4, 3],
    ['v1-completions-nonstream', 5, 4, 16],
  ])('%s: the engine’s own usage and timings, exact', (name, prompt, cached, completion) => {
    const { path, stream, body } = capturedBody(name);
    for (const size of SIZES) {
      expect(watch(body, stream, path, size)).toEqual({ prompt_tokens: prompt, cached_prompt_tokens: cached, completion_tokens: completion, estimated: false });
    }
  });

  it('an error answer carries no usage', () => {
    const { path, stream, body } = capturedBody('error-prompt-too-long-chat');
    expect(watch(body, stream, path, 64)).toBeUndefined();
  });

  it('content that quotes a usage field is not taken for the engine’s figures', () => {
    const event = (content: string) => `data: {"choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}}}]}\n\n`;
    const body = Buffer.from(event('') + event('"completion_tokens": 999, "prompt_tokens": 5') + event('x') + 'data: [DONE]\n\n');
    expect(watch(body, true, '/v1/completions', 5)).toMatchObject({ estimated: true, completion_tokens: 3 });
  });
});

describe('AnswerWatcher where the engine reports nothing', () => {
  const chunk = (delta: object, finish: string | null = null) =>
    `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":${JSON.stringify(delta)},"finish_reason":${JSON.stringify(finish)}}]}\n\n`;

  it('a vLLM chat stream without include_usage: content events counted, marked estimated', () => {
    // vLLM's shape: a role event, one event per token, the finish reason on the last token's.
    const tokens = Array.from({ length: 39 }, (_, i) => chunk({ content: `t${i} ` })).join('');
    const body = Buffer.from(chunk({ role: 'assistant', content: '' }) + tokens + chunk({ content: 't39' }, 'length') + 'data: [DONE]\n\n');
    for (const size of SIZES) {
      expect(watch(body, true, '/v1/chat/completions', size)).toEqual({ prompt_tokens: 0, cached_prompt_tokens: 0, completion_tokens: 40, estimated: true });
    }
  });

  it('keeps only the edges of a long answer, and still finds the final figures', () => {
    const filler = Array.from({ length: 2000 }, () => chunk({ content: 'word ' })).join('');
    const final = 'data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2000,"prompt_tokens_details":{"cached_tokens":3}}}\n\n';
    const body = Buffer.from(chunk({ role: 'assistant', content: '' }) + filler + chunk({}, 'stop') + final + 'data: [DONE]\n\n');
    expect(body.length).toBeGreaterThan(20 * EDGE_BYTES);
    expect(watch(body, true, '/v1/chat/completions', 200)).toEqual({ prompt_tokens: 12, cached_prompt_tokens: 3, completion_tokens: 2000, estimated: false });
  });

  it('an Anthropic stream: input tokens from message_start at the head, output tokens from the final message_delta', () => {
    const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const deltas = Array.from({ length: 300 }, () => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'more words ' } })).join('');
    const body = Buffer.from(
      ev('message_start', { message: { id: 'msg_1', usage: { input_tokens: 31, output_tokens: 1, cache_read_input_tokens: 16 } } }) +
        deltas +
        ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 300 } }) +
        ev('message_stop', {}),
    );
    expect(watch(body, true, '/v1/messages', 333)).toEqual({ prompt_tokens: 31, cached_prompt_tokens: 16, completion_tokens: 300, estimated: false });
  });
});
