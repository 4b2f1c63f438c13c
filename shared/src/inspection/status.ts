import type { RedisClient } from '../redis/connection.js';
import type { RedisNames } from '../redis/names.js';
import { fleetTotals, GONE_DISPATCHER_MEMORY_MS, readDispatchers, type FleetTotals } from './fleet.js';
import type { QueueInspector, QueueSummary } from './queueInspector.js';

export interface FleetStatus {
  readonly at: number;
  readonly dispatchers: FleetTotals;
  readonly queues: readonly QueueSummary[];
}

/** One picture of the fleet: dispatcher and slot totals, and every model queue. */
export async function fleetStatus(
  inspector: QueueInspector,
  redis: RedisClient,
  names: RedisNames,
  models: Iterable<string>,
): Promise<FleetStatus> {
  const [dispatchers, queues] = await Promise.all([
    readDispatchers(redis, names, GONE_DISPATCHER_MEMORY_MS),
    inspector.summaries(models),
  ]);
  return { at: Date.now(), dispatchers: fleetTotals(dispatchers), queues };
}
