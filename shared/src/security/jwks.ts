import { createPublicKey, type JsonWebKey } from 'node:crypto';

/** The asymmetric algorithm each JWKS key type verifies; HS256 takes JWT_SECRET instead. */
export const JWKS_ALGORITHMS: Readonly<Record<string, string>> = { RSA: 'RS256', EC: 'ES256' };

interface Jwk {
  readonly kty: string;
  readonly kid?: unknown;
  readonly d?: unknown;
  readonly alg?: unknown;
  readonly crv?: unknown;
}

/**
 * What is wrong with each key of a JWT_JWKS, for the config schema to refuse
 * at start-up: a key the verifier could not use, or one it should not hold
 * (a private key). Synchronous, so the schema stays synchronous.
 */
export function jwksProblems(keys: readonly Jwk[]): string[] {
  const problems: string[] = [];
  for (const [i, jwk] of keys.entries()) {
    const where = `key ${i + 1}${typeof jwk.kid === 'string' ? ` (kid ${jwk.kid})` : ''}`;
    const alg = JWKS_ALGORITHMS[jwk.kty];
    if (alg === undefined) {
      problems.push(`${where}: kty must be RSA or EC (HS256 takes JWT_SECRET)`);
    } else if (jwk.d !== undefined) {
      problems.push(`${where}: is a private key; the ingress needs the public key only`);
    } else if (jwk.alg !== undefined && jwk.alg !== alg) {
      problems.push(`${where}: alg ${JSON.stringify(jwk.alg)} is not supported (${alg} for kty ${jwk.kty})`);
    } else if (jwk.kty === 'EC' && jwk.crv !== 'P-256') {
      problems.push(`${where}: ES256 needs curve P-256`);
    } else {
      try {
        createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
      }
    }
  }
  return problems;
}
