import { describe, expect, it } from 'vitest';
import { forwardableRequestHeaders, relayableResponseHeaders } from './httpHeaders.js';

describe('relayable engine response headers', () => {
  it('leave the CORS answer to the gateway: the engine\'s own (llama-server reflects any Origin) is not relayed', () => {
    const relayed = relayableResponseHeaders({
      'content-type': 'application/json',
      'access-control-allow-origin': 'http://evil.example',
      'access-control-allow-credentials': 'true',
      'set-cookie': ['a=1', 'b=2'],
    });
    expect(relayed).toEqual([
      ['content-type', 'application/json'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
  });
});

describe('forwardable client request headers', () => {
  it('keep the gateway\'s own request for queue updates from the engine', () => {
    expect(forwardableRequestHeaders({ 'x-infergate-queue-updates': '1', accept: 'text/event-stream' })).toEqual({ accept: 'text/event-stream' });
  });
});
