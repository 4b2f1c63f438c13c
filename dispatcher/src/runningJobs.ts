import type { StopReason } from '@infergate/shared';

/** Why a running job's engine request was aborted: stopped (its client may be told why), or out of time. */
export type AbortReason = StopReason | 'backend_timeout';

/** A job's abort switch; the first reason given is the one that counts. */
export class JobAbort {
  private readonly controller = new AbortController();
  private why: AbortReason | undefined;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get reason(): AbortReason | undefined {
    return this.why;
  }

  abort(reason: AbortReason): void {
    this.why ??= reason;
    this.controller.abort(reason);
  }
}

/** The jobs this dispatcher is running, by request id: where cancels and the shutdown find them. */
export class RunningJobs {
  private readonly jobs = new Map<string, JobAbort>();
  private idleWaiters: Array<() => void> = [];

  get size(): number {
    return this.jobs.size;
  }

  begin(rid: string): JobAbort {
    const abort = new JobAbort();
    this.jobs.set(rid, abort);
    return abort;
  }

  end(rid: string): void {
    this.jobs.delete(rid);
    if (this.jobs.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  abort(rid: string, reason: AbortReason): void {
    this.jobs.get(rid)?.abort(reason);
  }

  abortAll(reason: AbortReason): void {
    for (const abort of this.jobs.values()) abort.abort(reason);
  }

  /** Resolves true once no job runs, or false after `timeoutMs` with jobs still running. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.jobs.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== idle);
        resolve(false);
      }, timeoutMs);
      const idle = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(idle);
    });
  }
}
