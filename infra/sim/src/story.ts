/*
 * Readable answers: short sentences in the manner of the TinyStories data
 * set, picked from a few templates and word lists by a generator seeded
 * from the prompt, so the same prompt always gets the same story and no
 * model or download is needed. One word (with its punctuation) is one token.
 */

const NAMES = ['Lily', 'Tom', 'Mia', 'Ben', 'Sue', 'Max', 'Anna', 'Tim', 'Lucy', 'Sam'];
const ANIMALS = ['dog', 'cat', 'bird', 'bunny', 'duck', 'fox', 'frog', 'bear'];
const THINGS = ['ball', 'kite', 'box', 'cake', 'boat', 'flower', 'book', 'hat', 'toy car', 'red shoe'];
const ADJECTIVES = ['big', 'little', 'happy', 'shiny', 'soft', 'funny', 'kind', 'tall', 'blue', 'old'];
const PLACES = ['park', 'garden', 'forest', 'yard', 'house', 'kitchen', 'pond', 'meadow'];
const VERBS = ['play', 'run', 'jump', 'sing', 'dance', 'read', 'swim', 'draw'];
const FEELINGS = ['happy', 'sad', 'scared', 'excited', 'proud', 'surprised', 'sleepy', 'curious'];

const OPENING = 'Once upon a time, there was a {adj} {animal} named {name}.';
const SENTENCES = [
  '{name} loved to {verb} in the {place}.',
  'One day, {name} found a {adj} {thing}.',
  '{name} was very {feeling}.',
  '{name} said, "Let\'s {verb} together!"',
  'They went to the {place} and played with the {thing}.',
  'The {thing} was {adj} and {adj}.',
  'Then a {adj} {animal} came to help.',
  '{name} and {friend} shared the {thing}.',
  'At the end of the day, {name} felt {feeling}.',
  '{friend} smiled and gave {name} a hug.',
];

/** mulberry32: a small, fast generator with a 32-bit state. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the prompt's tokens. */
export function promptSeed(tokens: readonly string[]): number {
  let hash = 0x811c9dc5;
  for (const token of tokens) {
    for (let i = 0; i < token.length; i++) hash = Math.imul(hash ^ token.charCodeAt(i), 0x01000193);
    hash = Math.imul(hash ^ 0, 0x01000193);
  }
  return hash >>> 0;
}

/** An endless story, one word at a time, in sentences that end with their punctuation. */
export class Story {
  private readonly random: () => number;
  private readonly name: string;
  private readonly friend: string;
  private readonly words: string[] = [];
  /** Indices of words that end a sentence. */
  private readonly ends = new Set<number>();

  constructor(seed: number) {
    this.random = generator(seed);
    this.name = this.pick(NAMES);
    this.friend = this.pick(NAMES.filter((n) => n !== this.name));
    this.add(OPENING);
  }

  /** Word `i`, with the space before it (none before the first). */
  word(i: number): string {
    while (this.words.length <= i) this.add(this.pick(SENTENCES));
    return i === 0 ? this.words[0]! : ` ${this.words[i]}`;
  }

  /** The first sentence end at or after `n` words: where the story stops by itself. */
  lengthAtLeast(n: number): number {
    if (n <= 0) return 0;
    for (let i = n - 1; ; i++) {
      this.word(i);
      if (this.ends.has(i)) return i + 1;
    }
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  private add(template: string): void {
    const fill: Record<string, () => string> = {
      name: () => this.name,
      friend: () => this.friend,
      animal: () => this.pick(ANIMALS),
      thing: () => this.pick(THINGS),
      adj: () => this.pick(ADJECTIVES),
      place: () => this.pick(PLACES),
      verb: () => this.pick(VERBS),
      feeling: () => this.pick(FEELINGS),
    };
    const sentence = template.replace(/\{(\w+)\}/g, (_, slot: string) => fill[slot]!()).replace(/\b([Aa]) (?=[aeiou])/g, '$1n ');
    this.words.push(...sentence.split(' '));
    this.ends.add(this.words.length - 1);
  }
}
