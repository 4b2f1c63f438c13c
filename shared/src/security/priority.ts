/**
 * Priority classes of KEY_POLICIES and the BullMQ job priority each maps to
 * (1 is the most urgent). BullMQ serves jobs without a priority before any
 * prioritised job, so every job is given one, `normal` unless a policy says
 * otherwise; within a class, jobs keep their arrival order.
 */
export const PRIORITY_CLASSES = { high: 1, normal: 1_000, low: 1_000_000 } as const;

export type PriorityClass = keyof typeof PRIORITY_CLASSES;
