import { describe, expect, it } from 'vitest';
import { contentFor, expectedTokens, tokenJson, tokenText } from './content.js';
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

describe('readable content', () => {
  const prompt = ['<s>', 'Tell', ' me ', 'a st', 'ory'];
  const words = (n: number, tokens = prompt) => {
    const content = contentFor('readable', 'ascii', tokens);
    return Array.from({ length: n }, (_, i) => content.text(i));
  };

  it('tells a short story in English words, one word a token, the same one for the same prompt', () => {
    const story = words(40);
    expect(story.slice(0, 6)).toEqual(['Once', ' upon', ' a', ' time,', ' there', ' was']);
    expect(story.slice(1).every((w) => /^ [A-Za-z"',.!]+$/.test(w))).toBe(true);
    expect(story.join('')).not.toMatch(/\bt\d/);
    expect(words(40)).toEqual(story);
    expect(words(40, [...prompt, '?'])).not.toEqual(story);
    expect(contentFor('readable', 'ascii', prompt).json(3)).toBe('" time,"');
  });

  it('stops by itself at the end of the first sentence that reaches the configured length', () => {
    const content = contentFor('readable', 'ascii', prompt);
    const n = content.naturalLength(12);
    expect(n).toBeGreaterThanOrEqual(12);
    expect(content.upTo(n)).toMatch(/[.!"]$/);
    expect(content.upTo(n - 1)).not.toMatch(/[.!"]$/);
    expect(content.naturalLength(0)).toBe(0);
  });

  it('counter content keeps the configured length and the ` t<i>` tokens', () => {
    const content = contentFor('counter', 'utf8', prompt);
    expect(content.naturalLength(7)).toBe(7);
    expect(content.upTo(3)).toBe(expectedTokens(3, 'utf8'));
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
