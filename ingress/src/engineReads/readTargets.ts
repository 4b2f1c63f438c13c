import type { DispatcherState } from '@infergate/shared';

/**
 * The dispatchers an engine read may go to, in the order to ask them: ready
 * and not draining, serving the model (any, for the web UI when no model is
 * named), shuffled so reads spread over the fleet. Capacity does not count:
 * a read takes no slot.
 */
export function readTargets(live: readonly DispatcherState[], model: string | undefined): DispatcherState[] {
  const serving = live.filter((d) => d.ready && !d.draining && (model === undefined || d.models.includes(model)));
  for (let i = serving.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [serving[i], serving[j]] = [serving[j]!, serving[i]!];
  }
  return serving;
}
