import { createHash, type Hash } from 'node:crypto';

/*
 * The prefix chain: the prompt cut into fixed-size character blocks, and for
 * chosen block positions i the hash of blocks 0..i. That is the chain
 * `h_i = H(h_{i-1}, block_i)` computed in one pass (a running hash, copied at
 * each chosen position), so a match on position i means every block before it
 * matches too: an interior match can never pass for a prefix match.
 */

/** Every block position below this is hashed; above it, eight positions per doubling of the prompt. */
const DENSE_BLOCKS = 16;
const PER_OCTAVE_SHIFT = 3;

/**
 * Whether block position `i` is one the chain hashes. It depends on `i` alone,
 * never on the prompt's length, so a writer with a short prompt and a reader
 * with a longer one hash the same positions of their common prefix.
 */
export function isChainPosition(i: number): boolean {
  if (i < DENSE_BLOCKS) return true;
  const step = 2 ** (Math.floor(Math.log2(i)) - PER_OCTAVE_SHIFT);
  return i % step === 0;
}

/**
 * The chain positions of a prompt of `blocks` full blocks, at most `max` of
 * them: the first half of the budget from the start (short shared prefixes
 * such as a system prompt), the rest from the end (the longest match, which
 * is what a conversation's previous turn left in the cache).
 */
export function chainPositions(blocks: number, max: number): number[] {
  const all: number[] = [];
  for (let i = 0; i < blocks; i++) if (isChainPosition(i)) all.push(i);
  if (all.length <= max) return all;
  const head = Math.ceil(max / 2);
  return [...all.slice(0, head), ...all.slice(all.length - (max - head))];
}

export interface PrefixChain {
  /** Hash of blocks 0..positions[k], shortest prefix first. */
  readonly hashes: readonly string[];
  /** Characters covered by each hash: (positions[k] + 1) × block size. */
  readonly covers: readonly number[];
  /** Characters of the whole prompt, for the matched share. */
  readonly promptChars: number;
}

export const EMPTY_CHAIN: PrefixChain = { hashes: [], covers: [], promptChars: 0 };

/** The chain of `text`; a prompt shorter than one block has none. */
export function prefixChain(text: string, blockChars: number, maxBlocks: number): PrefixChain {
  const blocks = Math.floor(text.length / blockChars);
  if (blocks === 0) return { ...EMPTY_CHAIN, promptChars: text.length };
  const positions = chainPositions(blocks, maxBlocks);
  const hashes: string[] = [];
  const covers: number[] = [];
  const running: Hash = createHash('sha1');
  let done = 0;
  for (const p of positions) {
    const end = (p + 1) * blockChars;
    running.update(text.slice(done, end));
    done = end;
    hashes.push(running.copy().digest('base64url').slice(0, 22));
    covers.push(end);
  }
  return { hashes, covers, promptChars: text.length };
}
