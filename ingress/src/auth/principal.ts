import { PRIORITY_CLASSES, type IngressConfig } from '@infergate/shared';

/**
 * Who a request is from: an API key (by its id) or a JWT tenant. Its limits
 * and priority come from KEY_POLICIES, or the defaults.
 */
export interface Principal {
  readonly kind: 'key' | 'tenant';
  /** Safe to log: a key's id, never the key. */
  readonly id: string;
  /** Requests per minute; 0 = unlimited. */
  readonly rpm: number;
  /** Requests open at once; 0 = unlimited. */
  readonly concurrent: number;
  /** Tokens per minute; 0 = unlimited. */
  readonly tpm: number;
  /** Tokens per UTC day; 0 = unlimited. */
  readonly dailyTokens: number;
  /** Tokens per UTC month; 0 = unlimited. */
  readonly monthlyTokens: number;
  /** BullMQ job priority (1 = most urgent): the first of its class's band. */
  readonly priority: number;
  /** Its fair share within its priority class, relative to others' (KEY_POLICIES `weight`, default 1). */
  readonly weight: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Null when the ingress runs open (no keys, no JWT configured) and on probe routes. */
    principal: Principal | null;
  }
}

export function principalFor(config: IngressConfig, kind: Principal['kind'], id: string): Principal {
  const policy = Object.hasOwn(config.KEY_POLICIES, id) ? config.KEY_POLICIES[id] : undefined;
  return {
    kind,
    id,
    rpm: policy?.rpm ?? config.KEY_RATE_LIMIT_RPM,
    concurrent: policy?.concurrent ?? config.KEY_MAX_CONCURRENT,
    tpm: policy?.tpm ?? config.KEY_TPM,
    dailyTokens: policy?.daily_tokens ?? config.KEY_DAILY_TOKENS,
    monthlyTokens: policy?.monthly_tokens ?? config.KEY_MONTHLY_TOKENS,
    priority: PRIORITY_CLASSES[policy?.priority ?? 'normal'],
    weight: policy?.weight ?? 1,
  };
}
