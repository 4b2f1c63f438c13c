/*
 * Header filtering for both directions of the relay. Hop-by-hop headers
 * describe one connection and must not cross a proxy (RFC 9110 §7.6.1);
 * client credentials are the gateway's business, never the engine's.
 */

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  // The ingress already answered any 100-continue; undici refuses to send it.
  'expect',
]);

const CLIENT_CREDENTIALS = new Set(['authorization', 'x-api-key', 'cookie']);

/** A streaming client asks the gateway, not the engine, for queue position updates (docs/fair-queue.md). */
export const QUEUE_UPDATES_HEADER = 'x-infergate-queue-updates';

/** llama.cpp keeps generating after a disconnect for requests carrying this header. */
const RESUMABLE_STREAM_HEADER = 'x-conversation-id';

export interface ForwardingOptions {
  /**
   * Pass llama.cpp's X-Conversation-Id on. Off by default: such a request
   * keeps its engine slot busy after the client has gone, which undoes
   * cancel-on-disconnect.
   */
  readonly conversationId?: boolean;
}

function connectionListed(value: string | string[] | undefined): Set<string> {
  const raw = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
}

/** Headers of a client request that may be forwarded to an engine. */
export function forwardableRequestHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  options: ForwardingOptions = {},
): Record<string, string> {
  const listed = connectionListed(headers.connection);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower) || CLIENT_CREDENTIALS.has(lower) || lower === QUEUE_UPDATES_HEADER) continue;
    if (lower === RESUMABLE_STREAM_HEADER && options.conversationId !== true) continue;
    out[lower] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * The engine's CORS answer: the gateway's CORS_ORIGINS decides which pages
 * may read a response, so an engine's own (llama-server reflects any Origin
 * by default) must neither override it nor appear twice.
 */
const isCorsHeader = (lower: string) => lower.startsWith('access-control-');

/**
 * Headers of an engine response that may be relayed to the client, as pairs
 * (repeated headers such as set-cookie keep their order). Content-length is
 * dropped: the ingress re-frames the body and Node sets the framing itself.
 */
export function relayableResponseHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): Array<[string, string]> {
  const listed = connectionListed(headers.connection);
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower) || isCorsHeader(lower)) continue;
    if (Array.isArray(value)) for (const v of value) out.push([lower, v]);
    else out.push([lower, value]);
  }
  return out;
}
