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

export interface InternalFailures<Operation extends string> {
  /** Logs the failure at warn with `context` and counts it. */
  report(operation: Operation, err: unknown, message: string, context?: Readonly<Record<string, unknown>>): void;
  /** Counts a failure whose logging is done elsewhere (an {@link ErrorEpisode}). */
  count(operation: Operation): void;
}

/** Reports to `logger`, counting with `count` (without it, failures are only logged). */
export function internalFailures<Operation extends string>(
  logger: Logger,
  count: (operation: Operation) => void = () => undefined,
): InternalFailures<Operation> {
  return {
    report(operation, err, message, context = {}) {
      count(operation);
      logger.warn({ ...context, operation, err: errorMessage(err) }, message);
    },
    count,
  };
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
