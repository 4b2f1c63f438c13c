/*
 * Fault knobs are read once per inference request, when it arrives, so a
 * request keeps the behaviour it was admitted with even if the knobs change
 * while it runs.
 */
import type { DieMode, SimulatorConfig } from './config.js';

export interface FaultPlan {
  readonly failStatus: number | null;
  readonly hang: boolean;
  readonly slowStartMs: number;
  readonly dieAfterTokens: number | null;
  readonly dieMode: DieMode;
}

function armed(c: SimulatorConfig): boolean {
  return c.failStatus !== null || c.hangBeforeHeaders || c.slowStartMs > 0 || c.dieAfterTokens !== null;
}

/** The faults for the next request, if any, spending one of `faultCount`. */
export function takeFaultPlan(config: SimulatorConfig): FaultPlan | undefined {
  if (config.faultCount === 0 || !armed(config)) return undefined;
  if (config.faultCount !== null) config.faultCount--;
  return {
    failStatus: config.failStatus,
    hang: config.hangBeforeHeaders,
    slowStartMs: config.slowStartMs,
    dieAfterTokens: config.dieAfterTokens,
    dieMode: config.dieMode,
  };
}
