import type { RedisClient } from '../redis/connection.js';
import { parseDispatcherState, type DispatcherState } from '../protocol/registry.js';
import type { RedisNames } from '../redis/names.js';

/** A model counts as known this long after a dispatcher last served it (the ingress routes to it). */
export const KNOWN_MODEL_MEMORY_MS = 24 * 3600 * 1000;

/** How long a dispatcher that stopped heartbeating is still listed, as gone. */
export const GONE_DISPATCHER_MEMORY_MS = 3600_000;

export interface DispatcherRecord {
  readonly id: string;
  /** False once its registry entry expired: it stopped heartbeating (crashed, or cut off from Redis). */
  readonly alive: boolean;
  readonly lastHeartbeatAt: number;
  /** What it last reported; null once the entry expired. */
  readonly state: DispatcherState | null;
}

export interface FleetTotals {
  readonly alive: number;
  readonly gone: number;
  readonly ready: number;
  readonly slots: { readonly total: number; readonly busy: number; readonly free: number };
}

/**
 * Dispatchers that heartbeated within `sinceMs`, the live ones first. The
 * index keeps a dispatcher's last beat after its entry expired, so one that
 * died recently is still listed, as gone, with the time it was last heard of.
 */
export async function readDispatchers(redis: RedisClient, names: RedisNames, sinceMs: number): Promise<DispatcherRecord[]> {
  const flat = await redis.zrangebyscore(names.dispatcherIndex, Date.now() - sinceMs, '+inf', 'WITHSCORES');
  const ids: string[] = [];
  const beats: number[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    ids.push(flat[i]!);
    beats.push(Number(flat[i + 1]));
  }
  const raws = ids.length > 0 ? await redis.mget(ids.map((id) => names.dispatcherKey(id))) : [];
  const records = ids.map((id, i): DispatcherRecord => {
    const state = parseDispatcherState(raws[i] ?? null) ?? null;
    return { id, alive: state !== null, lastHeartbeatAt: state?.updatedAt ?? beats[i]!, state };
  });
  return records.sort((a, b) => Number(b.alive) - Number(a.alive) || a.id.localeCompare(b.id));
}

/** Models some dispatcher served within `sinceMs`, by name. */
export async function readModels(redis: RedisClient, names: RedisNames, sinceMs = KNOWN_MODEL_MEMORY_MS): Promise<string[]> {
  return [...(await readModelsServed(redis, names, sinceMs)).keys()].sort();
}

/** Models some dispatcher served within `sinceMs`, each with when it last did (ms since the epoch). */
export async function readModelsServed(redis: RedisClient, names: RedisNames, sinceMs = KNOWN_MODEL_MEMORY_MS): Promise<Map<string, number>> {
  const flat = await redis.zrangebyscore(names.modelIndex, Date.now() - sinceMs, '+inf', 'WITHSCORES');
  const served = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) served.set(flat[i]!, Number(flat[i + 1]));
  return served;
}

export function fleetTotals(dispatchers: readonly DispatcherRecord[]): FleetTotals {
  const slots = { total: 0, busy: 0, free: 0 };
  let ready = 0;
  for (const d of dispatchers) {
    if (!d.state) continue;
    if (d.state.ready) ready++;
    slots.total += d.state.slots.total;
    slots.busy += d.state.slots.busy;
    slots.free += d.state.slots.free;
  }
  const alive = dispatchers.filter((d) => d.alive).length;
  return { alive, gone: dispatchers.length - alive, ready, slots };
}
