/*
 * vLLM's automatic prefix caching: the KV cache is cut into 16-token
 * blocks, each full block named by a hash of its tokens and of every block
 * before it, so one name means the whole prefix up to there matches. Any
 * request can reuse any cached block; the least recently used go when the
 * cache is full. A request's cached tokens are its leading blocks found,
 * never its last token. Slots play no part in it.
 */
import { createHash } from 'node:crypto';
import type { SimulatorConfig } from '../config.js';
import { reusable, type PromptCache } from '../prompt-cache.js';
import type { Slot } from '../slots.js';
import { BLOCK_SIZE, kvCacheBlocks, kvCacheTokens } from './kv-size.js';

function blockHashes(tokens: readonly string[]): string[] {
  const out: string[] = [];
  let parent = '';
  for (let end = BLOCK_SIZE; end <= tokens.length; end += BLOCK_SIZE) {
    parent = createHash('sha256').update(parent).update(JSON.stringify(tokens.slice(end - BLOCK_SIZE, end))).digest('base64');
    out.push(parent);
  }
  return out;
}

export class BlockPrefixCache implements PromptCache {
  // A Map keeps insertion order: re-inserting a block marks it most recently used.
  private readonly blocks = new Map<string, true>();

  constructor(
    private readonly config: Pick<SimulatorConfig, 'prefixCaching' | 'nCtx' | 'kvPerRequest'>,
    private readonly slots: () => number,
  ) {}

  pick(free: readonly Slot[]): Slot {
    return free[0]!;
  }

  begin(_slot: Slot, prompt: readonly string[]): number {
    if (!this.config.prefixCaching) return 0;
    const hashes = blockHashes(prompt);
    const usable = Math.floor(reusable(prompt.length, prompt.length) / BLOCK_SIZE);
    let hit = 0;
    while (hit < usable && this.blocks.has(hashes[hit]!)) hit++;
    this.store(hashes);
    return hit * BLOCK_SIZE;
  }

  end(_slot: Slot, held: readonly string[]): void {
    if (this.config.prefixCaching) this.store(blockHashes(held));
  }

  private store(hashes: readonly string[]): void {
    for (const hash of hashes) {
      this.blocks.delete(hash);
      this.blocks.set(hash, true);
    }
    const capacity = kvCacheBlocks(kvCacheTokens(this.config, this.slots()));
    for (const oldest of this.blocks.keys()) {
      if (this.blocks.size <= capacity) break;
      this.blocks.delete(oldest);
    }
  }
}
