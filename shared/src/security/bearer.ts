/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1): the
 * scheme in any case, then spaces or tabs, then one token with no whitespace
 * in it; anything else (no token, two words, another scheme) is undefined.
 */
export function bearerToken(authorization: string | undefined): string | undefined {
  return BEARER.exec(authorization ?? '')?.[1];
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
