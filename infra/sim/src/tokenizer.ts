/*
 * The simulated tokenizer. A token is up to four Unicode code points of the
 * text, which keeps prompt-token counts deterministic and roughly the size a
 * real BPE vocabulary gives for English. Piece ids are handed out on first
 * sight so /tokenize and /detokenize round-trip within one simulator. The
 * prompt caches compare prompts as these piece sequences.
 */

export const BOS_ID = 1;
export const EOS_ID = 2;
const CHARS_PER_TOKEN = 4;
// Pieces past this are all <unk>, so a benchmark tokenizing random text cannot grow memory without bound.
const MAX_PIECES = 100_000;

const BOS_PIECE = '<s>';

/** A prompt as the token sequence the prompt caches compare. */
export interface PromptSequence {
  readonly tokens: readonly string[];
  /** What a slot holds once `generated` text has been decoded after this prompt. */
  followedBy(generated: string): readonly string[];
}

function pieces(text: string): string[] {
  const points = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < points.length; i += CHARS_PER_TOKEN) out.push(points.slice(i, i + CHARS_PER_TOKEN).join(''));
  return out;
}

/**
 * A text prompt: BOS, then the text's pieces. The text and its continuation
 * are cut as one, so a next turn that repeats prompt and answer finds the
 * same pieces the slot holds.
 */
export function textPrompt(text: string): PromptSequence {
  return { tokens: [BOS_PIECE, ...pieces(text)], followedBy: (generated) => [BOS_PIECE, ...pieces(text + generated)] };
}

/** A prompt given as token ids: one token per id, no BOS added, as the engines take it. */
export function idPrompt(ids: readonly number[], vocab: Vocab): PromptSequence {
  // An id the vocabulary never handed out still stands for itself, not for an empty piece every such id shares.
  const tokens = ids.map((id) => vocab.detokenize([id]) || `<${id}>`);
  return { tokens, followedBy: (generated) => [...tokens, ...pieces(generated)] };
}

export interface ChatMessage {
  readonly role?: unknown;
  readonly content?: unknown;
}

/** Tokens in `text`: ceil(code points / 4). */
export function countTokens(text: string): number {
  let points = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A low surrogate completes a pair that was already counted.
    if (unit < 0xdc00 || unit > 0xdfff) points++;
  }
  return Math.ceil(points / CHARS_PER_TOKEN);
}

/** Prompt tokens as an engine counts them: the text plus the BOS token. */
export function promptTokens(text: string): number {
  return 1 + countTokens(text);
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => (typeof (part as { text?: unknown })?.text === 'string' ? (part as { text: string }).text : ''))
    .join('');
}

/** The ChatML rendering llama-server falls back to for a model without a chat template. */
export function chatPrompt(messages: readonly ChatMessage[]): string {
  let out = '';
  for (const m of messages) out += `<|im_start|>${typeof m.role === 'string' ? m.role : ''}\n${contentText(m.content)}<|im_end|>\n`;
  return out + '<|im_start|>assistant\n';
}

export interface Piece {
  readonly id: number;
  readonly piece: string;
}

export class Vocab {
  private readonly ids = new Map<string, number>();
  private readonly pieces: string[] = ['<unk>', '<s>', '</s>'];

  idOf(piece: string): number {
    const known = this.ids.get(piece);
    if (known !== undefined) return known;
    if (this.pieces.length >= MAX_PIECES) return 0;
    const id = this.pieces.push(piece) - 1;
    this.ids.set(piece, id);
    return id;
  }

  tokenize(text: string): Piece[] {
    return pieces(text).map((piece) => ({ id: this.idOf(piece), piece }));
  }

  detokenize(ids: readonly unknown[]): string {
    return ids.map((id) => (typeof id === 'number' ? (this.pieces[id] ?? '') : '')).join('');
  }
}
