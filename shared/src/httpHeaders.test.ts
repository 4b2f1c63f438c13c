import { describe, expect, it } from 'vitest';
import { relayableResponseHeaders } from './httpHeaders.js';

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
