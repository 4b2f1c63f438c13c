import { describe, expect, it } from 'vitest';
import { expectedTokens, tokenJson, tokenText } from './content.js';
import { countTokens, promptTokens, Vocab } from './tokenizer.js';

describe('deterministic content', () => {
  it('numbers every token so order and gaps are visible', () => {
    expect(tokenText(0)).toBe(' t0');
    expect(tokenText(41)).toBe(' t41');
    expect(expectedTokens(3)).toBe(' t0 t1 t2');
    expect(expectedTokens(0)).toBe('');
  });

  it('has a UTF-8 style with 2-, 3- and 4-byte characters', () => {
    const text = expectedTokens(3, 'utf8');
    expect(text).toBe(' t0é t1€ t2𝄞');
    expect(Buffer.byteLength(tokenText(0, 'utf8'))).toBe(3 + 2);
    expect(Buffer.byteLength(tokenText(1, 'utf8'))).toBe(3 + 3);
    expect(Buffer.byteLength(tokenText(2, 'utf8'))).toBe(3 + 4);
  });

  it('caches token JSON per style without mixing styles', () => {
    expect(tokenJson(5, 'ascii')).toBe('" t5"');
    expect(tokenJson(4, 'utf8')).toBe('" t4€"');
    expect(tokenJson(5, 'ascii')).toBe('" t5"');
  });
});

describe('simulated tokenizer', () => {
  it('counts one token per four code points, plus BOS for prompts', () => {
    expect(countTokens('')).toBe(0);
    expect(countTokens('abcd')).toBe(1);
    expect(countTokens('abcde')).toBe(2);
    expect(countTokens('𝄞𝄞𝄞𝄞')).toBe(1);
    expect(promptTokens('Once upon a time')).toBe(5);
  });

  it('round-trips text through ids', () => {
    const vocab = new Vocab();
    const pieces = vocab.tokenize('Once upon a time 𝄞!');
    expect(pieces.map((p) => p.piece).join('')).toBe('Once upon a time 𝄞!');
    expect(vocab.detokenize(pieces.map((p) => p.id))).toBe('Once upon a time 𝄞!');
    expect(vocab.tokenize('Once')[0]!.id).toBe(pieces[0]!.id);
  });
});
