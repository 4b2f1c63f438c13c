/*
 * When the launcher stops. One Ctrl-C reaches it more than once: the
 * terminal signals the whole foreground process group, and npm and tsx,
 * which sit above the launcher under `npm start`, forward the signal again
 * a few milliseconds later. Repeats that close to the first are that same
 * Ctrl-C and must not cut the orderly stop short; a Ctrl-C pressed again
 * later means "stop now", as does a stop that outlasts its grace time.
 */

/** Signals this much later than the first are a new request, not a forwarded copy of it. */
export const REPEAT_WINDOW_MS = 1_000;

export interface StopHandlers {
  /** The orderly stop; resolves once everything has stopped. */
  readonly stop: (reason: string) => Promise<void>;
  /** Kills what is left at once; the process exits 1 right after. */
  readonly force: (reason: string) => void;
  readonly graceMs: number;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Installs the handlers; `trigger` starts the orderly stop from inside, as a signal would. */
export function onStopSignals({ stop, force, graceMs }: StopHandlers): { trigger(reason: string): void } {
  let firstAt: number | undefined;
  let failed = false;
  const forceExit = (reason: string): void => {
    force(reason);
    process.exit(1);
  };
  const begin = (reason: string): void => {
    if (firstAt !== undefined) return;
    firstAt = Date.now();
    setTimeout(() => forceExit(`still stopping after ${graceMs / 1000} s`), graceMs).unref();
    stop(reason).then(
      () => process.exit(failed ? 1 : 0),
      (err: unknown) => forceExit(`stop failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (firstAt === undefined) return begin(signal);
    if (Date.now() - firstAt > REPEAT_WINDOW_MS) forceExit(`${signal} again`);
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  const onError = (err: unknown): void => {
    failed = true;
    begin(`error: ${err instanceof Error ? err.message : String(err)}`);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return { trigger: begin };
}
