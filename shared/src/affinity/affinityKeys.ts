import { createHash } from 'node:crypto';
import { prefixChain, type PrefixChain } from './prefixChain.js';
import { promptText } from './promptText.js';

/** What the ingress computes once per request and the job carries to the dispatcher that records it. */
export interface AffinityKeys {
  /** Hash of the client's session key (scoped to its API key or tenant); absent when it sent none. */
  readonly session?: string;
  readonly chain: PrefixChain;
}

export interface AffinityKeyOptions {
  readonly blockChars: number;
  readonly maxBlocks: number;
  /** Use the body's `user` field as a session key when nothing more specific is sent. */
  readonly userAsSession: boolean;
}

export interface SessionSources {
  /** The `x-session-id` request header. */
  readonly header: string | undefined;
  /** Who sent the request: the same session id from two tenants is two sessions. */
  readonly principal: string | undefined;
}

/**
 * The session key of a request: OpenAI's `prompt_cache_key`, else the
 * `x-session-id` header, else (opt-in) `user`. Hashed so the index never holds
 * a client's identifier.
 */
export function sessionKey(body: Record<string, unknown>, sources: SessionSources, userAsSession: boolean): string | undefined {
  const raw =
    (typeof body.prompt_cache_key === 'string' && body.prompt_cache_key) ||
    (sources.header !== undefined && sources.header !== '' ? sources.header : undefined) ||
    (userAsSession && typeof body.user === 'string' && body.user) ||
    undefined;
  if (raw === undefined) return undefined;
  return createHash('sha1')
    .update(`${sources.principal ?? ''}\u0000${raw}`)
    .digest('base64url')
    .slice(0, 22);
}

/** Session and prefix chain of a parsed request body; undefined when it has neither (nothing to look up). */
export function affinityKeys(body: unknown, sources: SessionSources, options: AffinityKeyOptions): AffinityKeys | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const record = body as Record<string, unknown>;
  const session = sessionKey(record, sources, options.userAsSession);
  const chain = prefixChain(promptText(record), options.blockChars, options.maxBlocks);
  if (session === undefined && chain.hashes.length === 0) return undefined;
  return session === undefined ? { chain } : { session, chain };
}
