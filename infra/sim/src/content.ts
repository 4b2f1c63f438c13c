/*
 * Deterministic generated text, in two modes. 'counter': token i always
 * reads ` t<i>`, so a test can rebuild the exact expected output and see at
 * a glance which token went missing or arrived out of order; its 'utf8'
 * style appends a 2-, 3- or 4-byte character to each token, so relays that
 * split bytes mid-character are caught. 'readable': a short story seeded by
 * the prompt (story.ts), so a demo answers in English.
 */
import { promptSeed, Story } from './story.js';

export type TokenStyle = 'ascii' | 'utf8';
export type TextMode = 'counter' | 'readable';

const MULTI_BYTE = ['é', '€', '𝄞'] as const;

export function tokenText(i: number, style: TokenStyle = 'ascii'): string {
  return style === 'ascii' ? ` t${i}` : ` t${i}${MULTI_BYTE[i % MULTI_BYTE.length]}`;
}

/** The full text of the first `n` tokens, as a complete response carries it. */
export function expectedTokens(n: number, style: TokenStyle = 'ascii'): string {
  let out = '';
  for (let i = 0; i < n; i++) out += tokenText(i, style);
  return out;
}

// Every stream writes the same token strings, so their JSON encodings are built once.
const jsonCache: Record<TokenStyle, string[]> = { ascii: [], utf8: [] };

/** `JSON.stringify(tokenText(i, style))`, cached. */
export function tokenJson(i: number, style: TokenStyle): string {
  const cache = jsonCache[style];
  return (cache[i] ??= JSON.stringify(tokenText(i, style)));
}

/** The text one response generates. */
export interface Content {
  text(i: number): string;
  /** `JSON.stringify(text(i))`. */
  json(i: number): string;
  /** The first `n` tokens' text. */
  upTo(n: number): string;
  /** How many tokens the model emits before EOS when `tokens` is the configured length. */
  naturalLength(tokens: number): number;
}

function counter(style: TokenStyle): Content {
  return {
    text: (i) => tokenText(i, style),
    json: (i) => tokenJson(i, style),
    upTo: (n) => expectedTokens(n, style),
    naturalLength: (tokens) => tokens,
  };
}

function readable(seed: number): Content {
  const story = new Story(seed);
  const text = (i: number) => story.word(i);
  return {
    text,
    json: (i) => JSON.stringify(text(i)),
    upTo: (n) => Array.from({ length: n }, (_, i) => text(i)).join(''),
    // A story stops at the end of a sentence, the first one at or after the configured length.
    naturalLength: (tokens) => story.lengthAtLeast(tokens),
  };
}

/** The content of an answer to `prompt` (its tokens); 'readable' is the same story for the same prompt. */
export function contentFor(mode: TextMode, style: TokenStyle, prompt: readonly string[]): Content {
  return mode === 'counter' ? counter(style) : readable(promptSeed(prompt));
}
