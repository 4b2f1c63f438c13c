import type { FastifyRequest } from 'fastify';
import { readUsage, type IngressConfig, type RedisClient, type RedisNames, type UsageFilter, type UsageRecord } from '@infergate/shared';
import type { Principal } from '../auth/principal.js';
import type { TokenAccounting } from '../context.js';
import type { IngressFailures } from '../metrics.js';
import type { RelayOutcome } from '../requestRelay.js';
import type { TokenMetrics } from './tokenMetrics.js';
import { UsageLedger } from './usageLedger.js';

/**
 * The ingress's token accounting: token limits at admission, and, when a
 * relayed request settles, its Prometheus counters and its usage record.
 * With USAGE_ACCOUNTING off nothing is written and no token limit holds.
 */
export class UsageAccounting implements TokenAccounting {
  private readonly ledger: UsageLedger | undefined;

  constructor(
    config: Pick<IngressConfig, 'USAGE_ACCOUNTING' | 'USAGE_RETENTION_DAYS'>,
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
    failures: IngressFailures,
    private readonly metrics: TokenMetrics,
  ) {
    this.ledger = config.USAGE_ACCOUNTING ? new UsageLedger(redis, names, { retentionDays: config.USAGE_RETENTION_DAYS }, failures) : undefined;
  }

  async admit(principal: Principal): Promise<void> {
    await this.ledger?.admit(principal);
  }

  settled(request: FastifyRequest, model: string, outcome: RelayOutcome): void {
    const { principal } = request;
    if (outcome.usage) this.metrics.count(model, outcome.usage, principal ? `${principal.kind}:${principal.id}` : undefined);
    // An open ingress (no keys, no JWT) has nobody to account to; its tokens are still counted above.
    if (principal) this.ledger?.record(principal, model, outcome.usage, outcome.error !== undefined);
  }

  read(filter: UsageFilter): Promise<UsageRecord[]> {
    return readUsage(this.redis, this.names, filter);
  }
}
