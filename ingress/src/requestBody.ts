import { gatewayError } from '@infergate/shared';

export interface RoutingFields {
  readonly model: string | undefined;
  readonly stream: boolean;
  /** The parsed body, read again for affinity keys (never re-serialized). */
  readonly parsed: object | undefined;
}

/**
 * Reads what routing needs from a JSON body without changing a byte of it:
 * the body is forwarded as received. Invalid JSON is refused here, before
 * anything is queued (engines disagree: llama.cpp answers it with a 500).
 */
export function routingFields(body: Buffer): RoutingFields {
  if (body.length === 0) return { model: undefined, stream: false, parsed: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw gatewayError('invalid_json');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw gatewayError('invalid_body');
  const { model, stream } = parsed as { model?: unknown; stream?: unknown };
  return { model: typeof model === 'string' ? model : undefined, stream: stream === true, parsed };
}
