import type { Logger } from '../logger.js';

/*
 * Errors a process survived on a path that carries a guarantee (a job never
 * runs twice, a client is always answered, the registry stays fresh). Each
 * is logged at warn with its context and counted by operation, so that one
 * hidden by a retry or a fallback still shows on a dashboard.
 */

export type Component = 'ingress' | 'dispatcher';

/** The options of the `prom-client` Counter `infergate_<component>_internal_failures_total{operation}`. */
export function internalFailuresMetric(component: Component) {
  return {
    name: `infergate_${component}_internal_failures_total`,
    help: 'Errors handled on a path that carries a guarantee (a Redis write, a queue move, a publish), by operation.',
    labelNames: ['operation'] as const,
  };
}

/** Where failures are counted: the process's Prometheus registry (`infergate_<component>_internal_failures_total`). */
export interface FailureCounter<Operation extends string> {
  internalFailure(operation: Operation): void;
}

const NOT_COUNTED: FailureCounter<never> = { internalFailure: () => undefined };

/**
 * A process's internal failures: each one counted, and logged at warn with
 * its context the first time its operation fails in a run; the rest of the
 * run is logged at debug, until {@link recovered} (Redis answers again) or a
 * minute has passed, when the next one warns again with how many it hid. A
 * Redis outage then shows as a line or two per operation, not one per retry
 * or per request, and a failure that keeps coming back still shows.
 */
export class InternalFailures<Operation extends string> {
  private readonly failing = new Map<Operation, { warnedAt: number; hidden: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly counter: FailureCounter<Operation> = NOT_COUNTED,
    private readonly rewarnAfterMs = 60_000,
  ) {}

  report(operation: Operation, err: unknown, message: string, context: Readonly<Record<string, unknown>> = {}): void {
    this.counter.internalFailure(operation);
    const fields = { ...context, operation, err: errorMessage(err) };
    const run = this.failing.get(operation);
    const now = Date.now();
    if (run === undefined) {
      this.failing.set(operation, { warnedAt: now, hidden: 0 });
      this.logger.warn(fields, message);
    } else if (now - run.warnedAt >= this.rewarnAfterMs) {
      this.logger.warn({ ...fields, hidden: run.hidden }, message);
      run.warnedAt = now;
      run.hidden = 0;
    } else {
      run.hidden++;
      this.logger.debug(fields, message);
    }
  }

  /** Counts a failure whose logging is done elsewhere (an {@link ErrorEpisode}). */
  count(operation: Operation): void {
    this.counter.internalFailure(operation);
  }

  /** Redis answers again: every operation's next failure is logged anew. */
  recovered(): void {
    if (this.failing.size === 0) return;
    this.logger.info({ operations: [...this.failing.keys()] }, 'internal operations recovered');
    this.failing.clear();
  }
}

/**
 * One run of errors from something that fails again and again while what it
 * depends on is down (a Redis connection reconnecting, a fetch loop): the
 * first error is logged at warn, the others only at debug, and the recovery
 * at info with how many there were. An outage is then two lines at the
 * default level, not one per retry.
 */
export class ErrorEpisode {
  private errors = 0;
  private since = 0;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly context: Readonly<Record<string, unknown>> = {},
    private readonly recoveredMessage = `${message}: recovered`,
  ) {}

  get ongoing(): boolean {
    return this.errors > 0;
  }

  error(err: unknown): void {
    const fields = { ...this.context, err: errorMessage(err) };
    if (this.errors++ === 0) {
      this.since = Date.now();
      this.logger.warn(fields, this.message);
    } else {
      this.logger.debug(fields, this.message);
    }
  }

  recovered(): void {
    if (this.errors === 0) return;
    this.logger.info({ ...this.context, errors: this.errors, forMs: Date.now() - this.since }, this.recoveredMessage);
    this.errors = 0;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
