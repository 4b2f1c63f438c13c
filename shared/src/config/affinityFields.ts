import { z } from 'zod';

/*
 * Cache-affinity settings (docs/design.md, "Cache affinity"), kept apart from
 * fields.ts so the area evolves on its own. Keys are the environment variable
 * names; `.env.example` gives the reason for each default.
 */

const flag = z.stringbool();
const positiveInt = z.coerce.number().int().positive();
const count = z.coerce.number().int().nonnegative();
const millis = z.coerce.number().nonnegative();

/** Read by both roles: the ingress stops routing to lanes, the dispatcher stops recording and reading them. */
export const affinityCommonFields = {
  AFFINITY_ENABLED: flag.default(true),
};

export const affinityIngressFields = {
  ...affinityCommonFields,
  /** Characters per prefix block: the granularity of a prefix match. */
  AFFINITY_BLOCK_CHARS: z.coerce.number().int().min(16).max(65536).default(256),
  /** Block positions hashed per request (looked up, then recorded): bounds lookup size and index memory. */
  AFFINITY_MAX_BLOCKS: z.coerce.number().int().min(1).max(512).default(64),
  /** Also treat the request's `user` field as a session key (off: `user` is an end-user id, not a conversation). */
  AFFINITY_USER_AS_SESSION: flag.default(false),
  /**
   * Heads (first prefix blocks, sessions) this ingress keeps per model in its
   * copy of the index's heads, so a request none of whose heads an engine
   * served skips the lookup (0: no copy, every request is looked up).
   */
  AFFINITY_KNOWN_HEADS_MAX: count.default(200_000),
  /** Time budget of the index lookup; past it the request goes to the shared queue. */
  AFFINITY_LOOKUP_TIMEOUT_MS: millis.max(1000).default(2),
  /** The steal bound: longest a request waits in its warm engine's lane before any engine may take it. */
  AFFINITY_MAX_WAIT_MS: millis.default(500),
  /**
   * Imbalance guard: the lane is skipped at once when its engine has no free
   * slot while another engine of the model has at least this many (0: never
   * skip on that ground).
   */
  AFFINITY_IMBALANCE_FREE_SLOTS: count.default(1),
  /** Imbalance guard: the lane is skipped at once when it already holds this many waiting jobs per engine slot. */
  AFFINITY_LANE_WAITING_PER_SLOT: positiveInt.default(2),
};

export const affinityDispatcherFields = {
  ...affinityCommonFields,
  /** How long an index entry names this engine as the holder of a prefix or session after it last served it. */
  AFFINITY_INDEX_TTL_SECONDS: positiveInt.default(300),
};
