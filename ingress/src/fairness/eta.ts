import type { IngressContext } from '../context.js';

/**
 * Milliseconds until `jobs` more jobs of `model` have started, from the
 * fleet's drain rate (every ingress's starts, kept in Redis), or this
 * ingress's own when Redis has none; undefined without a recent rate.
 */
export async function msUntilStarted(ctx: Pick<IngressContext, 'fair' | 'drainRate'>, model: string, jobs: number): Promise<number | undefined> {
  const shared = await ctx.fair?.drainPerSecond(model).catch(() => undefined);
  if (shared !== undefined) return Math.round((jobs * 1000) / shared);
  const local = ctx.drainRate.secondsToDrain(model, jobs);
  return local === undefined ? undefined : local * 1000;
}

/** A Retry-After for a client that would have had `jobs` jobs ahead of it: at least 1 s. */
export async function retryAfterSeconds(ctx: Pick<IngressContext, 'fair' | 'drainRate'>, model: string, jobs: number): Promise<number | undefined> {
  const ms = await msUntilStarted(ctx, model, jobs);
  return ms === undefined ? undefined : Math.max(1, Math.ceil(ms / 1000));
}
