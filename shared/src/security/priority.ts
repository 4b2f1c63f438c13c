/**
 * Width of each priority class's band of BullMQ priorities. BullMQ takes
 * priorities up to 2^21 (lower runs first); the three classes get disjoint
 * bands of equal width, so the fair share's offset within a class (see
 * ingress/src/fairness) can never lift a job into another class.
 */
export const PRIORITY_BAND_WIDTH = 699_050;

/**
 * Priority classes of KEY_POLICIES and the first BullMQ job priority of each
 * one's band (1 is the most urgent). BullMQ serves jobs without a priority
 * before any prioritised job, so every job is given one, `normal` unless a
 * policy says otherwise; within a class, the fair share orders jobs by their
 * tenants' virtual start times, arrival order breaking ties.
 */
export const PRIORITY_CLASSES = { high: 1, normal: 1 + PRIORITY_BAND_WIDTH, low: 1 + 2 * PRIORITY_BAND_WIDTH } as const;

export type PriorityClass = keyof typeof PRIORITY_CLASSES;

/** The class whose band holds a BullMQ priority. */
export function priorityClassOf(priority: number): PriorityClass {
  if (priority < PRIORITY_CLASSES.normal) return 'high';
  return priority < PRIORITY_CLASSES.low ? 'normal' : 'low';
}

/**
 * The scores BullMQ gives a class's jobs in a queue's prioritized set:
 * `priority × 2^32 + arrival counter` (its getPriorityScore.lua), so a band
 * of priorities is a range of scores, for ZCOUNT and the like.
 */
export function priorityClassScores(priorityClass: PriorityClass): { readonly min: number; readonly max: number } {
  const first = PRIORITY_CLASSES[priorityClass];
  return { min: first * 0x1_0000_0000, max: (first + PRIORITY_BAND_WIDTH) * 0x1_0000_0000 - 1 };
}
