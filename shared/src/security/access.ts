import type { IngressConfig } from '../config/index.js';

/** True when clients must authenticate: API keys, a JWT secret or a JWKS are configured. */
export function authenticationConfigured(config: IngressConfig): boolean {
  return config.API_KEYS.length > 0 || config.JWT_SECRET !== undefined || config.JWT_JWKS !== undefined;
}
