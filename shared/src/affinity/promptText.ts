/*
 * The prompt of a request as one string, built from the parsed JSON body in
 * the order an engine's chat template renders it, so that a conversation's
 * next turn (the same messages plus new ones) yields a string that starts
 * with this turn's. No tokenizer: the string only has to be stable, not to
 * be what the engine sees.
 */

/**
 * Separates messages and fields, so `["ab","c"]` and `["a","bc"]` differ: a
 * printable symbol (␞) rather than a control character, rare in prompts.
 */
const SEP = '\u241e';

/**
 * Claude Code (≥ 2.1.69) writes a per-request billing line into its system
 * prompt (`x-anthropic-billing-header: cc_version=…; cch=…;`); left in, it
 * would make every request's first block unique and no prefix would ever match.
 * The line starts a line or a content part, and ends at a newline or the end of its part.
 */
const VOLATILE_LINE = /(^|\u241e)x-anthropic-billing-header:[^\n\u241e]*\n?/gm;
const VOLATILE_MARK = 'x-anthropic-billing-header:';

export function stripVolatile(text: string): string {
  return text.includes(VOLATILE_MARK) ? text.replace(VOLATILE_LINE, '$1') : text;
}

type Json = unknown;

function isRecord(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Text of a content field: a string, or an array of parts (text, images, tool results…). */
function contentText(content: Json): string {
  if (typeof content === 'string') return content;
  if (content === undefined || content === null) return '';
  if (!Array.isArray(content)) return JSON.stringify(content);
  let out = '';
  for (const part of content) {
    if (typeof part === 'string') out += part;
    else if (isRecord(part) && part.type === 'text' && typeof part.text === 'string') out += part.text;
    else if (isRecord(part) && (part.type === 'input_text' || part.type === 'output_text') && typeof part.text === 'string') out += part.text;
    else out += JSON.stringify(part);
    out += SEP;
  }
  return out;
}

/** One chat / Anthropic / Responses message: role, content, and the tool calls the template renders with it. */
function messageText(message: Json, systemRoles: boolean): string {
  if (!isRecord(message)) return JSON.stringify(message) + SEP;
  const role = typeof message.role === 'string' ? message.role : String(message.type ?? '');
  let text = contentText(message.content);
  if (systemRoles && (role === 'system' || role === 'developer')) text = stripVolatile(text);
  let out = role + SEP + text;
  if (message.tool_calls !== undefined) out += SEP + JSON.stringify(message.tool_calls);
  if (typeof message.tool_call_id === 'string') out += SEP + message.tool_call_id;
  if (message.type !== undefined && message.role === undefined) {
    // A Responses item that is not a message (function_call, function_call_output, reasoning…).
    out += SEP + JSON.stringify(message);
  }
  return out + SEP + SEP;
}

function messagesText(messages: Json): string {
  if (!Array.isArray(messages)) return '';
  let out = '';
  for (const m of messages) out += messageText(m, true);
  return out;
}

/**
 * The prompt text of an OpenAI chat/completions/Responses or Anthropic
 * messages body; '' when the body carries none of those fields (embeddings,
 * tokenize, …), which disables prefix matching for it.
 */
export function promptText(body: Json): string {
  if (!isRecord(body)) return '';
  let out = '';
  // Tool definitions come first in the rendered prompt of the common templates.
  if (body.tools !== undefined) out += JSON.stringify(body.tools) + SEP;
  if (body.system !== undefined) out += stripVolatile(contentText(body.system)) + SEP;
  if (typeof body.instructions === 'string') out += stripVolatile(body.instructions) + SEP;
  if (Array.isArray(body.messages)) return out + messagesText(body.messages);
  if (body.input !== undefined) {
    return out + (typeof body.input === 'string' ? body.input : messagesText(body.input));
  }
  if (typeof body.prompt === 'string') return out + body.prompt;
  if (Array.isArray(body.prompt)) {
    // A batch of prompts shares its engine: the first one decides where it goes.
    const first: Json = body.prompt[0];
    return out + (typeof first === 'string' ? first : JSON.stringify(body.prompt));
  }
  return '';
}
