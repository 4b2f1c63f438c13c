import { describe, expect, it } from 'vitest';
import { bearerToken } from './bearer.js';

describe('bearerToken', () => {
  it('reads the token whatever the scheme case and the spacing around it', () => {
    expect(bearerToken('Bearer sk-abc')).toBe('sk-abc');
    expect(bearerToken('bearer sk-abc')).toBe('sk-abc');
    expect(bearerToken('BEARER \t sk-abc \t')).toBe('sk-abc');
  });

  it('finds no token in other schemes, empty values or values of two words', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Bearer a b', 'Basic dXNlcjpwYXNz', 'Bearersk-abc', ' Bearer sk-abc']) {
      expect(bearerToken(header), String(header)).toBeUndefined();
    }
  });
});
