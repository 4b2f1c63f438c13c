import { z } from 'zod';

/*
 * Security settings, kept apart from fields.ts so the areas evolve
 * independently. Keys are the environment variable names.
 */

export const securityIngressFields = {} satisfies Record<string, z.ZodType>;
export const securityDispatcherFields = {} satisfies Record<string, z.ZodType>;
