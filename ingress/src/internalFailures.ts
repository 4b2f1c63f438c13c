import type { Logger } from '@infergate/shared';

/** Where failed internal operations are counted (`infergate_ingress_internal_failures_total`). */
export interface FailureCounter {
  internalFailure(operation: string): void;
}

/**
 * The ingress's internal failures (a Redis command that failed, a queue's
 * error event), counted one by one but logged once per run: the first
 * failure of an operation is logged at warn, the rest of the run only
 * counted, until Redis is back. An outage then shows as two lines per
 * operation, not one per retry or per request.
 */
export class InternalFailures {
  private readonly failing = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly counter: FailureCounter,
  ) {}

  report(operation: string, err: unknown, context: Readonly<Record<string, unknown>> = {}): void {
    this.counter.internalFailure(operation);
    if (this.failing.has(operation)) return;
    this.failing.add(operation);
    this.logger.warn({ ...context, operation, err: err instanceof Error ? err.message : String(err) }, 'internal operation failed');
  }

  /** Redis answers again: every operation's next failure is logged anew. */
  recovered(): void {
    if (this.failing.size === 0) return;
    this.logger.info({ operations: [...this.failing] }, 'internal operations recovered');
    this.failing.clear();
  }
}
