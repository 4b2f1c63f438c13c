import { z } from 'zod';

/*
 * Token accounting and token limits (docs/usage.md). The per-key and
 * per-tenant forms of the limits live in KEY_POLICIES (securityFields.ts);
 * these are the defaults for every key without its own.
 */

const count = z.coerce.number().int().nonnegative();

export const usageIngressFields = {
  /** Record each finished request's tokens per key, model and day (off: nothing is written, no token limit can hold). */
  USAGE_ACCOUNTING: z.stringbool().default(true),
  /** Days a usage record is kept after its day ends. */
  USAGE_RETENTION_DAYS: z.coerce.number().int().min(1).max(3660).default(90),
  /** Label the token counters with the key too: one series per key × model × kind (see docs/usage.md). */
  USAGE_METRICS_BY_KEY: z.stringbool().default(false),
  /**
   * Fair share within each priority class (ingress/src/fairness): a key's
   * queued work waits for other keys' turns instead of ahead of them. Off:
   * arrival order within a class.
   */
  FAIR_SHARE: z.stringbool().default(true),
  /** Label the fair-share wait and deficit histograms with the key too (one series per key × model × class). */
  FAIR_SHARE_METRICS_BY_KEY: z.stringbool().default(false),
  /** Tokens (prompt + completion) per minute for every key without its own `tpm` (0 = unlimited). */
  KEY_TPM: count.default(0),
  /** Tokens per UTC day for every key without its own `daily_tokens` (0 = unlimited). */
  KEY_DAILY_TOKENS: count.default(0),
  /** Tokens per UTC calendar month for every key without its own `monthly_tokens` (0 = unlimited). */
  KEY_MONTHLY_TOKENS: count.default(0),
} satisfies Record<string, z.ZodType>;
