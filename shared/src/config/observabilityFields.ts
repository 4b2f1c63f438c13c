import { z } from 'zod';

/*
 * Observability settings, kept apart from fields.ts so the areas evolve
 * independently. Keys are the environment variable names.
 */

export const observabilityIngressFields = {
  /**
   * Key of the operator surface (`/admin`: JSON API and queue UI). Unset, that
   * surface does not exist at all (404), so a forgotten key never leaves it open.
   */
  ADMIN_API_KEY: z.string().min(16, 'must be at least 16 characters (e.g. `openssl rand -hex 32`)').optional(),
  /** Makes `GET /metrics` require the admin key as well. */
  METRICS_REQUIRE_ADMIN_KEY: z.stringbool().default(false),
} satisfies Record<string, z.ZodType>;

/** Cross-field rules of the observability settings, checked with the rest of the schema at start-up. */
export function checkMetricsGuard(
  config: { readonly ADMIN_API_KEY?: string | undefined; readonly METRICS_REQUIRE_ADMIN_KEY: boolean },
  ctx: z.RefinementCtx,
): void {
  if (config.METRICS_REQUIRE_ADMIN_KEY && config.ADMIN_API_KEY === undefined) {
    ctx.addIssue({ code: 'custom', path: ['METRICS_REQUIRE_ADMIN_KEY'], message: 'needs ADMIN_API_KEY to be set' });
  }
}

export const observabilityDispatcherFields = {} satisfies Record<string, z.ZodType>;
