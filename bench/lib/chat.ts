import { Pool } from 'undici';

/*
 * A chat client that reads what it streams: the answer's text (a
 * conversation's next turn resends it) and the engine's own account of its
 * prompt cache, from the last chunk — llama.cpp's `timings.cache_n` (tokens
 * reused) and `prompt_n` (tokens evaluated), or vLLM's
 * `usage.prompt_tokens_details.cached_tokens` out of `prompt_tokens`.
 */

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

export interface ChatTiming {
  /** 200 and the stream's own `[DONE]` at the end. */
  readonly ok: boolean;
  /** performance.now() when the request was sent. */
  readonly startedAt: number;
  /** ms from sending to the first content token. */
  readonly ttft: number;
  /** ms from sending to the end of the body. */
  readonly total: number;
  readonly text: string;
  /** Prompt tokens the engine found in its cache, and those it had to evaluate; 0 when it did not say. */
  readonly cachedTokens: number;
  readonly evaluatedTokens: number;
}

interface Chunk {
  readonly choices?: ReadonlyArray<{ readonly delta?: { readonly content?: string | null } }>;
  readonly timings?: { readonly cache_n?: number; readonly prompt_n?: number };
  readonly usage?: { readonly prompt_tokens?: number; readonly prompt_tokens_details?: { readonly cached_tokens?: number } | null };
}

function cacheFigures(chunk: Chunk): { cached: number; evaluated: number } | undefined {
  if (chunk.timings?.prompt_n !== undefined) return { cached: chunk.timings.cache_n ?? 0, evaluated: chunk.timings.prompt_n };
  const prompt = chunk.usage?.prompt_tokens;
  if (prompt === undefined) return undefined;
  const cached = chunk.usage?.prompt_tokens_details?.cached_tokens ?? 0;
  return { cached, evaluated: prompt - cached };
}

export class ChatClient {
  private readonly pool: Pool;

  constructor(readonly baseUrl: string) {
    this.pool = new Pool(baseUrl, { connections: 256, pipelining: 1 });
  }

  async send(messages: readonly ChatMessage[], maxTokens: number): Promise<ChatTiming> {
    const startedAt = performance.now();
    let ttft = 0;
    let text = '';
    let cache = { cached: 0, evaluated: 0 };
    let done = false;
    let pending = '';
    const onLine = (line: string): void => {
      if (!line.startsWith('data: ')) return;
      const data = line.slice(6);
      if (data === '[DONE]') {
        done = true;
        return;
      }
      const chunk = JSON.parse(data) as Chunk;
      const content = chunk.choices?.[0]?.delta?.content;
      if (content) {
        if (ttft === 0) ttft = performance.now() - startedAt;
        text += content;
      }
      cache = cacheFigures(chunk) ?? cache;
    };
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'any', stream: true, stream_options: { include_usage: true }, max_tokens: maxTokens, messages }),
      });
      res.body.setEncoding('utf8');
      for await (const part of res.body as AsyncIterable<string>) {
        const lines = (pending + part).split('\n');
        pending = lines.pop()!;
        lines.forEach(onLine);
      }
      onLine(pending);
      return { ok: res.statusCode === 200 && done, startedAt, ttft, total: performance.now() - startedAt, text, cachedTokens: cache.cached, evaluatedTokens: cache.evaluated };
    } catch {
      return { ok: false, startedAt, ttft, total: performance.now() - startedAt, text, cachedTokens: 0, evaluatedTokens: 0 };
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
