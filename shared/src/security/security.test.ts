import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../../tests/support/configProblems.js';
import { loadConfig } from '../config/index.js';
import { forwardableRequestHeaders } from '../httpHeaders.js';
import { hashApiKey, parseApiKeyList } from './apiKeys.js';
import { isSafeEnginePath } from './enginePath.js';

const KEY_A = 'sk-alpha-0123456789abcdef';
const KEY_B = 'sk-bravo-0123456789abcdef';


describe('isSafeEnginePath', () => {
  it.each([
    '/v1/chat/completions',
    '/v1/chat/completions?stream=true&x=a/../b',
    '/completion',
    '/',
    '/v1/models/',
    '/v1/chat/completion%73',
  ])('accepts %s', (target) => expect(isSafeEnginePath(target)).toBe(true));

  it.each([
    ['absolute-form', 'http://evil.example/v1/chat/completions'],
    ['scheme-relative', '//evil.example/v1/chat/completions'],
    ['empty segment', '/v1//chat/completions'],
    ['dot-dot', '/v1/../slots/0'],
    ['dot', '/v1/./chat/completions'],
    ['encoded dot-dot', '/v1/%2e%2E/slots/0'],
    ['encoded slash', '/slots/0%2F..%2Fprops'],
    ['encoded backslash', '/v1%5c..%5cprops'],
    ['backslash', '/v1\\..\\props'],
    ['fragment', '/v1/chat/completions#x'],
    ['space', '/v1/chat completions'],
    ['control character', '/v1/chat/completions\r\nx-injected: 1'],
    ['non-ASCII', '/v1/chät/completions'],
    ['asterisk-form', '*'],
    ['empty', ''],
    ['encoded NUL', '/v1/chat/completions%00'],
  ])('refuses %s', (_, target) => expect(isSafeEnginePath(target)).toBe(false));
});

describe('API key lists', () => {
  it('reads commas, whitespace, newlines and comments, and names keys by hash prefix or given name', () => {
    const { entries, problems } = parseApiKeyList(`# team keys\n${KEY_A}, ops:${KEY_B}  # the ops key\n\n`);
    expect(problems).toEqual([]);
    expect(entries.map((e) => e.id)).toEqual([hashApiKey(KEY_A).toString('hex').slice(0, 8), 'ops']);
    expect(entries[1]!.hash.equals(hashApiKey(KEY_B))).toBe(true);
  });

  it('refuses short, repeated and clashing entries without quoting a key', () => {
    const { entries, problems } = parseApiKeyList(`short-key, ${KEY_A}, again:${KEY_A}, ops:${KEY_B}, ops:sk-charlie-0123456789ab`);
    expect(entries.map((e) => e.id)).toHaveLength(2);
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).not.toMatch(/short-key|sk-alpha|sk-bravo|sk-charlie/);
  });

  it('keeps only hashes in the loaded configuration', () => {
    const config = loadConfig('ingress', { API_KEYS: `${KEY_A}\nops:${KEY_B}` });
    expect(config.API_KEYS).toHaveLength(2);
    const dump = `${JSON.stringify(config)}\n${inspect(config, { depth: 10 })}`;
    expect(dump).not.toContain(KEY_A);
    expect(dump).not.toContain(KEY_B);
  });

  it('fails start-up on a bad list, naming the variable but not the key', () => {
    const problems = problemsOf(() => loadConfig('ingress', { API_KEYS: 'tooshort' }));
    expect(problems).toEqual([expect.stringMatching(/^API_KEYS: .*shorter than 16/)]);
    expect(problems.join()).not.toContain('tooshort');
  });
});

describe('security configuration', () => {
  it('keeps the JWT secret as a key object, not as text', () => {
    const secret = 'jwt-secret-0123456789abcdef0123456789';
    const config = loadConfig('ingress', { JWT_SECRET: secret });
    expect(inspect(config, { depth: 10 })).not.toContain(secret);
    expect(problemsOf(() => loadConfig('ingress', { JWT_SECRET: 'short' }))).toEqual([expect.stringMatching(/^JWT_SECRET: must be at least 32/)]);
  });

  it('validates KEY_POLICIES and JWT_JWKS as JSON of the documented shape', () => {
    const config = loadConfig('ingress', { KEY_POLICIES: '{"ops":{"rpm":60,"concurrent":2,"priority":"high"}}' });
    expect(config.KEY_POLICIES).toEqual({ ops: { rpm: 60, concurrent: 2, priority: 'high' } });
    const problems = problemsOf(() =>
      loadConfig('ingress', { KEY_POLICIES: '{"ops":{"priority":"urgent","burst":3}}', JWT_JWKS: '{"keys":[', KEY_RATE_LIMIT_RPM: '-1' }),
    );
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['JWT_JWKS', 'KEY_POLICIES.ops', 'KEY_POLICIES.ops.priority', 'KEY_RATE_LIMIT_RPM']);
  });
});

describe('forwarded request headers', () => {
  const client = {
    authorization: `Bearer ${KEY_A}`,
    'x-api-key': KEY_A,
    cookie: 'session=1',
    'proxy-authorization': 'Basic eA==',
    connection: 'keep-alive, x-hop',
    'x-hop': '1',
    'keep-alive': 'timeout=5',
    te: 'trailers',
    expect: '100-continue',
    host: 'evil.example',
    'x-conversation-id': 'conv-1',
    'content-type': 'application/json',
    'x-trace': 'abc',
  };

  it('drops credentials, hop-by-hop headers and, by default, X-Conversation-Id', () => {
    expect(forwardableRequestHeaders(client)).toEqual({ 'content-type': 'application/json', 'x-trace': 'abc' });
  });

  it('passes X-Conversation-Id only when asked to', () => {
    expect(forwardableRequestHeaders(client, { conversationId: true })).toEqual({
      'content-type': 'application/json',
      'x-trace': 'abc',
      'x-conversation-id': 'conv-1',
    });
  });
});
