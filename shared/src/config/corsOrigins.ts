/**
 * CORS_ORIGINS, with the meaning of llama-server's `--cors-origins`: a comma
 * list of origins, `*` for any origin, and `localhost` for the loopback
 * origins (localhost, 127.0.0.1, [::1]) on any port, the way a page served
 * by a local dev server reaches a local gateway.
 */
export interface CorsOrigins {
  /** `*`: every origin may read the answers (they still need credentials). */
  readonly any: boolean;
  /** `localhost`: http(s) origins on a loopback host, any port. */
  readonly loopback: boolean;
  /** Origins allowed as written, in their serialized form (`scheme://host[:port]`). */
  readonly exact: readonly string[];
}

export const NO_CORS: CorsOrigins = { any: false, loopback: false, exact: [] };

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function parsedOrigin(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** Resolves the list; every entry that is not `*`, `localhost` or a bare origin is a problem. */
export function resolveCorsOrigins(entries: readonly string[]): { readonly origins: CorsOrigins; readonly problems: string[] } {
  const problems: string[] = [];
  const exact = new Set<string>();
  let any = false;
  let loopback = false;
  for (const entry of entries) {
    if (entry === '*') {
      any = true;
      continue;
    }
    if (entry.toLowerCase() === 'localhost') {
      loopback = true;
      continue;
    }
    const url = parsedOrigin(entry);
    // An Origin header never carries a path, query or credentials, so an entry with one could never match.
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== entry.replace(/\/$/, '').toLowerCase()) {
      problems.push(`'${entry}' is not an origin (scheme://host[:port]), '*' or 'localhost'`);
      continue;
    }
    exact.add(url.origin);
  }
  return { origins: { any, loopback, exact: [...exact] }, problems };
}

/** Whether a request's Origin header may read the gateway's answers. */
export function corsOriginAllowed(origins: CorsOrigins, origin: string | undefined): boolean {
  if (origin === undefined || origin === '') return false;
  if (origins.any) return true;
  if (origins.exact.includes(origin)) return true;
  if (!origins.loopback) return false;
  const url = parsedOrigin(origin);
  return url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(url.hostname) && url.origin === origin;
}

export function corsEnabled(origins: CorsOrigins): boolean {
  return origins.any || origins.loopback || origins.exact.length > 0;
}
