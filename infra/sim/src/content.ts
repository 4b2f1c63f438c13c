/*
 * Deterministic generated text. Token i always reads ` t<i>`, so a test can
 * rebuild the exact expected output and see at a glance which token went
 * missing or arrived out of order. The 'utf8' style appends a 2-, 3- or
 * 4-byte character to each token, so relays that split bytes mid-character
 * are caught.
 */

export type TokenStyle = 'ascii' | 'utf8';

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
