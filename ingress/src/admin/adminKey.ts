import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, gatewayError, hashApiKey } from '@infergate/shared';
import { errorHeaders } from '../errorResponse.js';

/**
 * The operator key, kept only as its SHA-256 digest. Comparing fixed-length
 * digests with timingSafeEqual leaks neither the key nor its length.
 *
 * Accepted as `x-api-key: KEY`, `Authorization: Bearer KEY`, or HTTP Basic
 * with the key as the password (any user name), which is what lets a browser
 * open the queue UI: it asks for the credentials once and then sends them on
 * every request of the page, its API calls included.
 */
export class AdminKey {
  private readonly digest: Buffer;

  constructor(key: string) {
    this.digest = hashApiKey(key);
  }

  accepts(headers: IncomingHttpHeaders): boolean {
    let ok = false;
    // Every candidate is compared, so timing does not tell which header held the key.
    for (const candidate of presentedKeys(headers)) ok = timingSafeEqual(hashApiKey(candidate), this.digest) || ok;
    return ok;
  }

  /**
   * An `onRequest` hook answering 401 with an OpenAI-style error unless the key
   * is presented. `basicRealm` adds the challenge that makes browsers prompt.
   */
  guard(basicRealm?: string): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
    return async (request, reply) => {
      if (this.accepts(request.headers)) return;
      const err = gatewayError('unauthorized', 'Missing or invalid admin key.');
      const headers = errorHeaders(err, request.id);
      if (basicRealm !== undefined) headers['www-authenticate'] = `Basic realm="${basicRealm}", charset="UTF-8"`;
      await reply.code(err.status).headers(headers).send(err.toBody());
    };
  }
}

/** HTTP Basic (RFC 7617): the scheme in any case, then the base64 of `user:password`. */
const BASIC = /^Basic[ \t]+(\S*)[ \t]*$/i;

function presentedKeys(headers: IncomingHttpHeaders): string[] {
  const keys: string[] = [];
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') keys.push(apiKey);
  const bearer = bearerToken(headers.authorization);
  if (bearer !== undefined) keys.push(bearer);
  const basic = BASIC.exec(headers.authorization ?? '')?.[1];
  if (basic !== undefined) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) keys.push(decoded.slice(colon + 1));
  }
  return keys;
}
