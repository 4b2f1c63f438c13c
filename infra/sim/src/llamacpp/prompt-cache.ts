/*
 * llama-server's prompt reuse. Each slot keeps the tokens it last processed
 * (prompt plus generated text). A new task goes to the free slot whose
 * tokens share the largest part of its prompt, when that part exceeds
 * `--slot-prompt-similarity` (default 0.1); otherwise to the least recently
 * used free slot. A slot about to lose tokens the new prompt does not
 * extend saves them in the host prompt cache (`--cache-ram`), an LRU that
 * here is sized in tokens; a cached prompt sharing more with the new one
 * than the slot does is moved into the slot.
 */
import type { SimulatorConfig } from '../config.js';
import { commonPrefix, reusable, type PromptCache } from '../prompt-cache.js';
import type { Slot } from '../slots.js';

export class LlamaPromptCache implements PromptCache {
  private readonly held = new Map<number, readonly string[]>();
  /** Least recently saved first. */
  private saved: (readonly string[])[] = [];
  private savedTokens = 0;

  constructor(private readonly config: Pick<SimulatorConfig, 'slotPromptSimilarity' | 'promptCacheTokens'>) {}

  pick(free: readonly Slot[], prompt: readonly string[]): Slot {
    const threshold = this.config.slotPromptSimilarity;
    let best = free[0]!;
    let bestSimilarity = 0;
    if (threshold > 0 && prompt.length > 0) {
      for (const slot of free) {
        const similarity = commonPrefix(this.held.get(slot.id) ?? [], prompt) / prompt.length;
        if (similarity > bestSimilarity && similarity > threshold) [best, bestSimilarity] = [slot, similarity];
      }
    }
    return best;
  }

  begin(slot: Slot, prompt: readonly string[]): number {
    // The limit can shrink at runtime (0 turns the cache off); what no longer fits goes first.
    this.evictBeyond(this.config.promptCacheTokens);
    const held = this.held.get(slot.id) ?? [];
    let matched = commonPrefix(held, prompt);
    const restored = this.takeBest(prompt, matched);
    if (matched < held.length) this.save(held);
    if (restored) matched = commonPrefix(restored, prompt);
    this.held.set(slot.id, prompt);
    return reusable(matched, prompt.length);
  }

  end(slot: Slot, held: readonly string[]): void {
    this.held.set(slot.id, held);
  }

  /** Removes and returns the saved prompt sharing more than `beat` tokens with `prompt`, the most it can find. */
  private takeBest(prompt: readonly string[], beat: number): readonly string[] | undefined {
    let best = -1;
    let bestShared = beat;
    this.saved.forEach((entry, i) => {
      const shared = commonPrefix(entry, prompt);
      if (shared > bestShared) [best, bestShared] = [i, shared];
    });
    if (best < 0) return undefined;
    const [entry] = this.saved.splice(best, 1);
    this.savedTokens -= entry!.length;
    return entry;
  }

  private save(tokens: readonly string[]): void {
    const limit = this.config.promptCacheTokens;
    if (tokens.length === 0 || tokens.length > limit) return;
    // A saved prompt the new one extends adds nothing; one that extends the new one makes saving it pointless.
    if (this.saved.some((entry) => commonPrefix(entry, tokens) === tokens.length)) return;
    this.saved = this.saved.filter((entry) => commonPrefix(entry, tokens) < entry.length);
    this.saved.push(tokens);
    this.savedTokens = this.saved.reduce((sum, entry) => sum + entry.length, 0);
    this.evictBeyond(limit);
  }

  private evictBeyond(limit: number): void {
    while (this.savedTokens > limit) this.savedTokens -= this.saved.shift()!.length;
  }
}
