import { isRecord, type Reply } from '../http.js';
import { handlerError } from './http.js';
import { nlohmannParseError } from './jsonError.js';

/**
 * Parses a request body the way llama-server does; a malformed body is the
 * 500 `server_error` carrying nlohmann's parse-error text.
 */
export function parseBody(body: Buffer): { readonly value: unknown } | Reply {
  try {
    // nlohmann skips a UTF-8 byte order mark; JSON.parse would choke on it.
    const text = body.toString('utf8');
    return { value: JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text) };
  } catch (err) {
    const message = nlohmannParseError(body) ?? (err as Error).message;
    return handlerError('server_error', message);
  }
}

export function isParsed(v: { readonly value: unknown } | Reply): v is { readonly value: unknown } {
  return 'value' in v;
}

/** Body fields as nlohmann's `json_value` reads them: absent on a non-object body. */
export function fields(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
