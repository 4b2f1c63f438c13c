import { describe, expect, it } from 'vitest';
import { affinityKeys, chainPositions, prefixChain, promptText } from './index.js';

const options = { blockChars: 64, maxBlocks: 48, userAsSession: false };
const noSession = { header: undefined, principal: undefined };
const long = (label: string, n = 400) => `${label} `.repeat(Math.ceil(n / (label.length + 1))).slice(0, n);

function chainOf(body: unknown) {
  return affinityKeys(body, noSession, options)?.chain.hashes ?? [];
}

/** How many leading hashes two chains share. */
function shared(a: readonly string[], b: readonly string[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

describe('prefix chain', () => {
  it('gives a later turn of a chat every hash of the earlier turn', () => {
    const turn1 = { model: 'm', messages: [{ role: 'system', content: long('You are terse.') }, { role: 'user', content: long('first question') }] };
    const turn2 = { ...turn1, messages: [...turn1.messages, { role: 'assistant', content: long('an answer') }, { role: 'user', content: 'next?' }] };
    const a = chainOf(turn1);
    const b = chainOf(turn2);
    expect(a.length).toBeGreaterThan(5);
    expect(b.length).toBeGreaterThan(a.length);
    expect(shared(a, b)).toBe(a.length);
  });

  it('matches nothing past the first block that differs, even when later blocks are equal (no interior match)', () => {
    const tail = long('the very same long tail', 1200);
    const a = chainOf({ prompt: long('alpha', 256) + tail });
    const b = chainOf({ prompt: long('omega', 256) + tail });
    expect(shared(a, b)).toBe(0);
    const c = chainOf({ prompt: long('alpha', 256) + long('different', 1200) });
    expect(shared(a, c)).toBe(4);
  });

  it('skips a prompt shorter than one block', () => {
    expect(affinityKeys({ messages: [{ role: 'user', content: 'hi' }] }, noSession, options)).toBeUndefined();
    expect(prefixChain('x'.repeat(63), 64, 48).hashes).toEqual([]);
  });

  it('hashes every early block, then eight per doubling, within the cap, from positions that depend on the index alone', () => {
    expect(chainPositions(10, 48)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(chainPositions(40, 48)).toEqual([...Array(16).keys(), 16, 18, 20, 22, 24, 26, 28, 30, 32, 36]);
    const capped = chainPositions(100_000, 48);
    expect(capped).toHaveLength(48);
    expect(capped.slice(0, 24)).toEqual(chainPositions(100_000, 1000).slice(0, 24));
    expect(capped.at(-1)).toBe(98_304);
  });

  it('tells message roles, boundaries and tool calls apart', () => {
    const text = long('same words', 200);
    const asUser = chainOf({ messages: [{ role: 'user', content: text }] });
    const asSystem = chainOf({ messages: [{ role: 'system', content: text }] });
    expect(shared(asUser, asSystem)).toBe(0);
    const call = (args: string) => ({ role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: args } }] });
    const first = { role: 'user', content: 'q'.repeat(70) };
    expect(promptText({ messages: [first, call('{"a":1}')] })).not.toBe(promptText({ messages: [first, call('{"a":2}')] }));
    expect(promptText({ messages: [first, { role: 'tool', tool_call_id: 'c1', content: 'r' }] })).toContain('c1');
  });
});

describe('body shapes', () => {
  const words = long('context', 300);
  it('reads chat messages with content parts', () => {
    expect(promptText({ messages: [{ role: 'user', content: [{ type: 'text', text: words }] }] })).toContain(words);
  });
  it('reads a completion prompt, and the first of a batch', () => {
    expect(promptText({ prompt: words })).toBe(words);
    expect(promptText({ prompt: [words, 'other'] })).toBe(words);
  });
  it('reads Responses instructions and input, as a string or as items', () => {
    expect(promptText({ instructions: 'be brief', input: words })).toContain(words);
    const items = promptText({ instructions: 'be brief', input: [{ role: 'user', content: [{ type: 'input_text', text: words }] }] });
    expect(items.startsWith('be brief')).toBe(true);
    expect(items).toContain(words);
  });
  it('reads Anthropic system (string or blocks) before messages', () => {
    const text = promptText({ system: [{ type: 'text', text: 'sys' }], messages: [{ role: 'user', content: words }] });
    expect(text.indexOf('sys')).toBeLessThan(text.indexOf(words));
  });
  it('has no prompt for bodies without one (embeddings)', () => {
    expect(promptText({ input: undefined, model: 'e' })).toBe('');
    expect(affinityKeys({ model: 'e' }, noSession, options)).toBeUndefined();
  });
});

describe('volatile content', () => {
  it('drops the Claude Code billing line, so two requests of one conversation share their prefix', () => {
    const body = (cch: string) => ({
      system: [{ type: 'text', text: `x-anthropic-billing-header: cc_version=2.1.70.abc; cc_entrypoint=cli; cch=${cch};` }, { type: 'text', text: long('You are Claude Code.', 600) }],
      messages: [{ role: 'user', content: long('fix the bug', 300) }],
    });
    const a = chainOf(body('1f2e3'));
    expect(a.length).toBeGreaterThan(5);
    expect(chainOf(body('9a8b7'))).toEqual(a);
    const chat = (cch: string) => ({ messages: [{ role: 'system', content: `x-anthropic-billing-header: cch=${cch};\n${long('sys', 500)}` }] });
    expect(chainOf(chat('1'))).toEqual(chainOf(chat('2')));
    const second = (cch: string) => ({ system: [{ type: 'text', text: 'intro' }, { type: 'text', text: `x-anthropic-billing-header: cch=${cch};` }, { type: 'text', text: long('sys', 500) }], messages: [] });
    expect(chainOf(second('1'))).toEqual(chainOf(second('2')));
  });
});

describe('session keys', () => {
  it('takes prompt_cache_key, then x-session-id, and user only when enabled; scoped to the sender', () => {
    const body = { prompt_cache_key: 'conv-1', user: 'alice', messages: [] };
    const k = (b: object, header?: string, principal?: string, userAsSession = false) =>
      affinityKeys(b, { header, principal }, { ...options, userAsSession })?.session;
    expect(k(body)).toBeDefined();
    expect(k(body, 'other')).toBe(k(body));
    expect(k({ messages: [] }, 'conv-1')).toBe(k(body));
    expect(k(body, undefined, 'tenant-b')).not.toBe(k(body));
    expect(k({ user: 'alice', messages: [] })).toBeUndefined();
    expect(k({ user: 'alice', messages: [] }, undefined, undefined, true)).toBeDefined();
  });
});
