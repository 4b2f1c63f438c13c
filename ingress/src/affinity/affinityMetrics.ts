import { Counter, Histogram, type Registry } from 'prom-client';

const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Cache-affinity series of the ingress (docs/metrics.md), on the ingress's registry. */
export class AffinityMetrics {
  private readonly routed: Counter<'model' | 'decision' | 'reason'>;
  private readonly steals: Counter<'model'>;
  private readonly laneWait: Histogram<'model' | 'result'>;
  private readonly promptChars: Counter<'model' | 'cache'>;
  private readonly lookup: Histogram<'model'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.routed = new Counter({
      name: 'infergate_affinity_requests_total',
      help: 'Requests with affinity keys, by decision: hit (sent to a lane, reason session or prefix, or owner_busy when its engine was full but the prefill saved outweighs the wait; or held by every engine, reason everywhere, sent to the shared queue) or miss (shared queue; reason not_indexed when no engine served its first block or session, so it was not looked up, no_entry, owner_gone, owner_unavailable, owner_busy, lane_full, timeout, error).',
      labelNames: ['model', 'decision', 'reason'] as const,
      registers,
    });
    this.steals = new Counter({
      name: 'infergate_affinity_steals_total',
      help: 'Lane jobs moved to the shared queue because their engine had not started them within their bound (AFFINITY_MAX_WAIT_MS, or the prefill saved when the engine was busy).',
      labelNames: ['model'] as const,
      registers,
    });
    this.laneWait = new Histogram({
      name: 'infergate_affinity_lane_wait_seconds',
      help: 'Time a request spent in its lane: until its engine started it (result served) or until it was moved to the shared queue (stolen).',
      labelNames: ['model', 'result'] as const,
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.promptChars = new Counter({
      name: 'infergate_affinity_prompt_chars_total',
      help: 'Prompt characters of requests with affinity keys: hit (the prefix the index says the chosen lane\'s engine holds) or miss (the rest, and all of a request sent to the shared queue).',
      labelNames: ['model', 'cache'] as const,
      registers,
    });
    this.lookup = new Histogram({
      name: 'infergate_affinity_lookup_seconds',
      help: 'Duration of the index lookup (bounded by AFFINITY_LOOKUP_TIMEOUT_MS).',
      labelNames: ['model'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01],
      registers,
    });
  }

  /** `matchedChars` of the request's `promptChars` are held by the lane it went to (0 for a miss). */
  decided(model: string, decision: 'hit' | 'miss', reason: string, matchedChars: number, promptChars: number): void {
    this.routed.inc({ model, decision, reason });
    if (matchedChars > 0) this.promptChars.inc({ model, cache: 'hit' }, matchedChars);
    if (promptChars > matchedChars) this.promptChars.inc({ model, cache: 'miss' }, promptChars - matchedChars);
  }

  lookedUp(model: string, seconds: number): void {
    this.lookup.observe({ model }, seconds);
  }

  leftLane(model: string, result: 'served' | 'stolen', seconds: number): void {
    this.laneWait.observe({ model, result }, seconds);
    if (result === 'stolen') this.steals.inc({ model });
  }
}
