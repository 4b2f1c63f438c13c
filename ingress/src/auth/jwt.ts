import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { gatewayError, JWKS_ALGORITHMS, type GatewayError, type IngressConfig } from '@infergate/shared';

/** Resolves a bearer JWT to its tenant, or throws a 401 saying what is wrong with it. */
export type TenantVerifier = (token: string) => Promise<string>;

const MAX_TENANT_LENGTH = 200;

/**
 * Offline verification only: a shared secret (HS256) and/or a local JWKS
 * (RS256, ES256), never a key fetched at request time. The accepted
 * algorithms are pinned to the configured keys, so a token cannot pick its
 * own (no `none`, no HS256 signed with a public key).
 */
export function createJwtVerifier(config: IngressConfig): TenantVerifier | undefined {
  const secret = config.JWT_SECRET;
  const jwks = config.JWT_JWKS as JSONWebKeySet | undefined;
  if (secret === undefined && jwks === undefined) return undefined;
  const algorithms: string[] = [];
  if (secret !== undefined) algorithms.push('HS256');
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  if (jwks !== undefined) {
    // Its keys were checked by the config schema (jwksProblems).
    keySet = createLocalJWKSet(jwks);
    algorithms.push(...new Set(Object.values(JWKS_ALGORITHMS)));
  }
  const getKey: JWTVerifyGetKey = (header, token) => (header.alg === 'HS256' ? secret! : keySet!(header, token));
  const options = {
    algorithms,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    clockTolerance: config.JWT_CLOCK_SKEW_SECONDS,
    // A token without an expiry would be a credential for ever.
    requiredClaims: ['exp'],
  };
  const claim = config.JWT_TENANT_CLAIM;
  return async (token) => {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, getKey, options));
    } catch (err) {
      throw tokenError(err);
    }
    const tenant = payload[claim];
    if (typeof tenant !== 'string' || tenant.length === 0 || tenant.length > MAX_TENANT_LENGTH) {
      throw gatewayError('unauthorized', `The token's "${claim}" claim does not name a tenant.`);
    }
    return tenant;
  };
}

function tokenError(err: unknown): GatewayError {
  const { code, claim } = (err ?? {}) as { code?: string; claim?: string };
  if (code === 'ERR_JWT_EXPIRED') return gatewayError('unauthorized', 'The token has expired.');
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return gatewayError('unauthorized', `The token's "${claim}" claim is not accepted.`);
  return gatewayError('unauthorized', 'The token is not valid.');
}
