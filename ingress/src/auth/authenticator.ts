import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { authenticationConfigured, bearerToken, gatewayError, hashApiKey, type IngressConfig } from '@infergate/shared';
import { createJwtVerifier, type TenantVerifier } from './jwt.js';
import { principalFor, type Principal } from './principal.js';

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/**
 * Checks a request's credentials: an API key in `Authorization: Bearer` or
 * `x-api-key` (either header carrying a valid key is enough, as at the NGINX
 * edge), else a bearer JWT when JWT_SECRET or JWT_JWKS is set.
 */
export class Authenticator {
  private constructor(
    private readonly keys: ReadonlyArray<{ readonly hash: Buffer; readonly principal: Principal }>,
    private readonly verifyJwt: TenantVerifier | undefined,
    private readonly config: IngressConfig,
  ) {}

  static create(config: IngressConfig): Authenticator {
    const keys = config.API_KEYS.map(({ id, hash }) => ({ hash, principal: principalFor(config, 'key', id) }));
    return new Authenticator(keys, createJwtVerifier(config), config);
  }

  /** False when neither keys nor JWT are configured: the ingress then serves everyone. */
  get required(): boolean {
    return authenticationConfigured(this.config);
  }

  async authenticate(headers: IncomingHttpHeaders): Promise<Principal> {
    const bearer = bearerToken(headers.authorization);
    const apiKey = headers['x-api-key'];
    const presented = [bearer, typeof apiKey === 'string' ? apiKey : undefined].filter((s) => s !== undefined);
    if (presented.length === 0) {
      throw gatewayError('unauthorized', 'An API key is required, as "Authorization: Bearer <key>" or "x-api-key: <key>".');
    }
    for (const candidate of presented) {
      const principal = this.keyPrincipal(candidate);
      if (principal) return principal;
    }
    if (bearer !== undefined && this.verifyJwt !== undefined && JWT_SHAPE.test(bearer)) {
      return principalFor(this.config, 'tenant', await this.verifyJwt(bearer));
    }
    throw gatewayError('unauthorized', 'The API key is not valid.');
  }

  /**
   * Compares the candidate's hash with every key's, without stopping at a
   * match: the time taken says nothing about which key, if any, matched.
   */
  private keyPrincipal(candidate: string): Principal | undefined {
    const hash = hashApiKey(candidate);
    let found: Principal | undefined;
    for (const key of this.keys) if (timingSafeEqual(hash, key.hash)) found = key.principal;
    return found;
  }
}
