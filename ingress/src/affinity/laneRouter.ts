import type { IncomingHttpHeaders } from 'node:http';
import {
  affinityKeys,
  type AffinityKeyOptions,
  type DispatcherState,
  type InferenceJob,
  type IngressConfig,
  type JobAffinity,
} from '@infergate/shared';
import type { JobQueues } from '../jobQueues.js';
import type { FleetView } from '../context.js';
import type { AffinityMetrics } from './affinityMetrics.js';
import type { IndexLookup } from './indexLookup.js';
import type { KnownHeads } from './knownHeads.js';
import { chooseLane, type GuardSettings } from './laneChoice.js';
import { Placement, type PlacementHooks } from './lanePlacement.js';

/** Where a request goes: the keys its job carries, and the lane it waits in (none: the shared queue). */
export interface Routing {
  readonly affinity?: JobAffinity;
  /** The lane and how long the request may wait there (the shared queue when absent). */
  readonly lane?: { readonly id: string; readonly waitMs: number };
}

const NO_ROUTING: Routing = {};

/**
 * Cache affinity at the ingress: computes a request's keys, reads the shared
 * index, chooses a lane, and places the job. Every failure on the way (no
 * keys, no lanes, a slow or failing Redis) ends in the shared queue, which is
 * where the request would go with affinity off.
 */
export class LaneRouter {
  private readonly keyOptions: AffinityKeyOptions;
  private readonly guards: GuardSettings;

  constructor(
    private readonly config: IngressConfig,
    private readonly registry: Pick<FleetView, 'live'>,
    private readonly lookup: IndexLookup,
    private readonly queues: JobQueues,
    private readonly metrics: AffinityMetrics,
    /** Absent: every request with keys is looked up. */
    private readonly known?: KnownHeads,
  ) {
    this.keyOptions = {
      blockChars: config.AFFINITY_BLOCK_CHARS,
      maxBlocks: config.AFFINITY_MAX_BLOCKS,
      userAsSession: config.AFFINITY_USER_AS_SESSION,
    };
    this.guards = {
      imbalanceFreeSlots: config.AFFINITY_IMBALANCE_FREE_SLOTS,
      laneWaitingPerSlot: config.AFFINITY_LANE_WAITING_PER_SLOT,
      maxWaitMs: config.AFFINITY_MAX_WAIT_MS,
    };
  }

  /** Dispatchers of the model that serve lanes: where its queued jobs may also wait. */
  laneOwners(model: string): string[] {
    return this.laneServers(model).map((d) => d.id);
  }

  private laneServers(model: string): DispatcherState[] {
    return this.registry.live.filter((d) => d.affinityEpoch !== undefined && d.models.includes(model));
  }

  async route(model: string, body: unknown, headers: IncomingHttpHeaders, principal: string | undefined): Promise<Routing> {
    if (!this.config.AFFINITY_ENABLED) return NO_ROUTING;
    // No dispatcher of the model serves lanes (none has affinity on, or all predate it): nobody would
    // record the keys either, so they are not even computed.
    const live = this.laneServers(model);
    if (live.length === 0) return NO_ROUTING;
    const header = headers['x-session-id'];
    const keys = affinityKeys(body, { header: typeof header === 'string' ? header : undefined, principal }, this.keyOptions);
    if (keys === undefined) return NO_ROUTING;
    const affinity: JobAffinity = keys.session === undefined ? { blocks: keys.chain.hashes } : { session: keys.session, blocks: keys.chain.hashes };
    const promptChars = keys.chain.promptChars;
    if (await this.known?.absent(model, keys)) {
      this.metrics.decided(model, 'miss', 'not_indexed', 0, promptChars);
      return { affinity };
    }
    const started = performance.now();
    const result = await this.lookup.read(model, keys, live.map((d) => d.id));
    this.metrics.lookedUp(model, (performance.now() - started) / 1000);
    if ('failed' in result) {
      this.metrics.decided(model, 'miss', result.failed, 0, promptChars);
      return { affinity };
    }
    const choice = chooseLane(keys, result.reading, live, this.guards);
    if ('miss' in choice) {
      this.metrics.decided(model, 'miss', choice.miss, 0, promptChars);
      return { affinity };
    }
    if ('everywhere' in choice) {
      this.metrics.decided(model, 'hit', 'everywhere', choice.matchedChars, promptChars);
      return { affinity };
    }
    this.metrics.decided(model, 'hit', choice.busy ? 'owner_busy' : choice.via, choice.matchedChars, promptChars);
    return { affinity, lane: { id: choice.lane, waitMs: choice.waitMs } };
  }

  place(job: InferenceJob, routing: Routing, priority: number | undefined, hooks: PlacementHooks): Placement {
    const lane = routing.lane === undefined ? undefined : { queue: this.queues.lane(job.model, routing.lane.id), waitMs: routing.lane.waitMs };
    return new Placement(job, priority, lane, this.queues, this.metrics, hooks);
  }
}
