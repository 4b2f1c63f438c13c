import { z } from 'zod';

/*
 * Observability settings, kept apart from fields.ts so the areas evolve
 * independently. Keys are the environment variable names.
 */

export const observabilityIngressFields = {} satisfies Record<string, z.ZodType>;
export const observabilityDispatcherFields = {} satisfies Record<string, z.ZodType>;
