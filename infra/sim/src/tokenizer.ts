/*
 * The simulated tokenizer. A token is up to four Unicode code points of the
 * text, which keeps prompt-token counts deterministic and roughly the size a
 * real BPE vocabulary gives for English. Piece ids are handed out on first
 * sight so /tokenize and /detokenize round-trip within one simulator.
 */

export const BOS_ID = 1;
export const EOS_ID = 2;
const CHARS_PER_TOKEN = 4;
// Pieces past this are all <unk>, so a benchmark tokenizing random text cannot grow memory without bound.
const MAX_PIECES = 100_000;

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
    const points = Array.from(text);
    const out: Piece[] = [];
    for (let i = 0; i < points.length; i += CHARS_PER_TOKEN) {
      const piece = points.slice(i, i + CHARS_PER_TOKEN).join('');
      out.push({ id: this.idOf(piece), piece });
    }
    return out;
  }

  detokenize(ids: readonly unknown[]): string {
    return ids.map((id) => (typeof id === 'number' ? (this.pieces[id] ?? '') : '')).join('');
  }
}
