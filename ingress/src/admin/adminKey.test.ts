import { describe, expect, it } from 'vitest';
import { AdminKey } from './adminKey.js';

const KEY = 'admin-key-0123456789abcdef';
const key = new AdminKey(KEY);
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('admin key', () => {
  it.each([
    ['x-api-key', { 'x-api-key': KEY }],
    ['a bearer token', { authorization: `Bearer ${KEY}` }],
    ['a bearer token, scheme in any case', { authorization: `bearer ${KEY}` }],
    ['a bearer token after a tab (RFC 6750 allows any whitespace)', { authorization: `Bearer\t${KEY}` }],
    ['basic auth with the key as password', { authorization: basic('anyone', KEY) }],
    ['x-api-key next to a foreign Authorization header', { 'x-api-key': KEY, authorization: 'Bearer client-key' }],
  ])('accepts %s', (_what, headers) => {
    expect(key.accepts(headers)).toBe(true);
  });

  it.each([
    ['no credentials', {}],
    ['a wrong key', { 'x-api-key': `${KEY}x` }],
    ['a prefix of the key', { authorization: `Bearer ${KEY.slice(0, -1)}` }],
    ['the key as basic user name', { authorization: basic(KEY, '') }],
    ['an empty bearer token', { authorization: 'Bearer ' }],
    ['the bare key without a scheme', { authorization: KEY }],
  ])('refuses %s', (_what, headers) => {
    expect(key.accepts(headers)).toBe(false);
  });

  it('refuses a bearer value of two words, even when they spell the key: a bearer token has no whitespace', () => {
    const spaced = 'admin key 0123456789abcdef';
    expect(new AdminKey(spaced).accepts({ authorization: `Bearer ${spaced}` })).toBe(false);
    expect(new AdminKey(spaced).accepts({ 'x-api-key': spaced })).toBe(true);
  });
});
