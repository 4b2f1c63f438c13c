import { describe, expect, it } from 'vitest';
import { header, loadCapture, parseCapture, parseCurl } from './capture.js';
import { sseData } from './sse.js';

describe('.http capture reader', () => {
  it('reads request, status, headers and a length-delimited body', () => {
    const c = loadCapture('health-ready');
    expect(c.request).toEqual({ method: 'GET', path: '/health', body: undefined });
    expect(c.status).toBe(200);
    expect(header(c, 'server')).toBe('llama.cpp');
    expect(c.body.toString()).toBe('{"status":"ok"}');
  });

  it('cuts a body to its Content-Length and copes with a missing request line', () => {
    expect(loadCapture('health-loading').body.toString()).toBe('{"error":{"message":"Loading model","type":"unavailable_error","code":503}}');
    const during = loadCapture('np2-8streams-metrics-during');
    expect(during.request).toBeUndefined();
    expect(during.body.toString()).toContain('llamacpp:requests_deferred 6');
  });

  it('removes chunked framing and gets the same events as the de-chunked capture', () => {
    const raw = loadCapture('chat-stream-rawchunks');
    expect(raw.chunks?.length).toBeGreaterThan(1);
    const events = sseData(raw.body.toString());
    expect(events.at(-1)).toBe('[DONE]');
    expect(events).toHaveLength(1 + 4 + 1 + 1);
    expect(sseData(loadCapture('chat-stream').body.toString())).toHaveLength(1 + 8 + 1 + 1);
  });

  it('replays curl command lines', () => {
    expect(parseCurl('curl -H Content-Type: application/json -d {"a":1} http://127.0.0.1:1/v1/x')).toEqual({
      method: 'POST',
      path: '/v1/x',
      body: '{"a":1}',
    });
    expect(parseCurl('curl -X POST http://h:1/slots/0?action=erase')).toEqual({ method: 'POST', path: '/slots/0?action=erase', body: undefined });
    expect(parseCurl('curl -I http://h:1/health')?.method).toBe('HEAD');
    expect(() => parseCapture(Buffer.from('HTTP/1.1 200 OK\r\n'))).toThrow();
  });
});
