/** One answer's tokens as the engine reported them, or as counted where it reported nothing. */
export interface TokenUsage {
  /** Every prompt token, cached ones included (OpenAI's `prompt_tokens`). */
  readonly prompt_tokens: number;
  /** Prompt tokens the engine reused from its cache instead of evaluating them. */
  readonly cached_prompt_tokens: number;
  readonly completion_tokens: number;
  /** The engine reported nothing: completion tokens are counted stream chunks, prompt tokens unknown (0). */
  readonly estimated: boolean;
}

/** The end frame's payload: the answer's usage, when the dispatcher could read it. */
export interface EndPayload {
  readonly usage?: TokenUsage;
}

const EMPTY = Buffer.alloc(0);

export function endPayload(usage: TokenUsage | undefined): Buffer {
  return usage === undefined ? EMPTY : Buffer.from(JSON.stringify({ usage } satisfies EndPayload));
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);

/** Reads an end frame's payload; an empty one (older dispatchers) or a malformed one carries no usage. */
export function parseEndPayload(payload: Buffer): TokenUsage | undefined {
  if (payload.length === 0) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    // A payload this ingress cannot read costs the record its tokens, never the client its answer.
    return undefined;
  }
  return usageIn(raw);
}

/** The `usage` field of a frame's JSON payload (an end or error frame), read defensively. */
export function usageIn(raw: unknown): TokenUsage | undefined {
  const u = (raw as EndPayload | null)?.usage as Partial<Record<keyof TokenUsage, unknown>> | undefined;
  if (typeof u !== 'object' || u === null) return undefined;
  return {
    prompt_tokens: count(u.prompt_tokens),
    cached_prompt_tokens: count(u.cached_prompt_tokens),
    completion_tokens: count(u.completion_tokens),
    estimated: u.estimated === true,
  };
}
