/*
 * What both engines' prompt caches offer the scheduler: a slot choice that
 * favours a cached prompt, the number of a prompt's tokens found cached when
 * a slot starts on it (their prefill is skipped), and what the slot holds
 * afterwards. llama.cpp keeps prompts per slot plus a host-RAM LRU; vLLM
 * shares 16-token KV blocks across all requests.
 */
import type { Slot } from './slots.js';

export interface PromptCache {
  /** The free slot a task with this prompt runs in; `free` is least recently used first. */
  pick(free: readonly Slot[], prompt: readonly string[]): Slot;
  /** A slot starts on `prompt`: the leading tokens it need not compute, at most all but the last. */
  begin(slot: Slot, prompt: readonly string[]): number;
  /** The slot stopped; `held` is the prompt and whatever it decoded after it. */
  end(slot: Slot, held: readonly string[]): void;
}

/** Tokens `a` and `b` share from the start. */
export function commonPrefix(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Both engines compute at least the last prompt token again, since its
 * logits start the generation: a prompt seen before in full reports all
 * but one token cached (captured: `cache_n` 48, `prompt_n` 1).
 */
export const reusable = (matched: number, promptLength: number): number => Math.max(0, Math.min(matched, promptLength - 1));
