/*
 * The one place that names Redis queues, keys and channels. Every name carries
 * a hash tag so the same names work on Redis Cluster: each model queue has its
 * own tag (queues spread over shards), each reply channel its own, and the
 * registry one shared tag so it can be read with one MGET. A model's lanes and
 * affinity index share that model's tag.
 */

export interface RedisNames {
  /** BullMQ `prefix` option; BullMQ appends `:<queue>:<suffix>` itself. */
  readonly bullPrefix: string;
  queueName(model: string): string;
  /** Inverse of {@link queueName}; undefined for names that are not model queues. */
  modelOfQueue(queueName: string): string | undefined;
  /** The lane of one dispatcher for one model: its engine's affinity queue, in the model's hash slot. */
  laneQueueName(model: string, dispatcherId: string): string;
  /** Inverse of {@link laneQueueName}; undefined for names that are not lanes. */
  laneOfQueue(queueName: string): { readonly model: string; readonly dispatcher: string } | undefined;
  /** Set of dispatchers that have (or had) a lane for the model, so survivors find a dead one's. */
  laneSet(model: string): string;
  /** Affinity index entry of a prefix-chain hash (`kind` b) or session hash (`kind` s) of a model. */
  affinityKey(model: string, kind: 'b' | 's', hash: string): string;
  /**
   * Sorted set of a model's index heads (first prefix blocks and sessions,
   * as `indexHead` names them), scored by when their entry expires: what an
   * ingress loads to know which heads the index may hold.
   */
  affinityHeads(model: string): string;
  /** Where dispatchers announce each head they record, so ingresses keep their copy of {@link affinityHeads} current. */
  affinityAnnouncements(model: string): string;
  /**
   * Fair-share state of one priority class of a model: its virtual clock and
   * each tenant's virtual finish time (ingress/src/fairness). The model's tag,
   * so one script reads it beside the model's queue.
   */
  fairShare(model: string, priorityClass: string): string;
  /** The start times of a model's last jobs, newest first: the fleet's drain rate. */
  drainTimes(model: string): string;
  /** BullMQ's sorted set of a queue's prioritized jobs (BullMQ's own layout: `<prefix>:<queue>:prioritized`). */
  prioritizedJobs(queueName: string): string;
  /** BullMQ's list of a queue's jobs without a priority. */
  waitingJobs(queueName: string): string;
  replyChannel(ingressId: string): string;
  readonly controlChannel: string;
  /** Where one dispatcher hears the engine reads (GETs outside the queue) meant for it. */
  engineReadChannel(dispatcherId: string): string;
  dispatcherKey(dispatcherId: string): string;
  readonly dispatcherIndex: string;
  readonly modelIndex: string;
  /** The request's never-run-twice record (see `JobFate`). */
  jobFate(requestId: string): string;
  /** Rate-limit state of one key or tenant; shares its hash tag with {@link principalLeases}. */
  principalRate(principal: string): string;
  /** Sorted set of one key's or tenant's open requests, scored by lease expiry. */
  principalLeases(principal: string): string;
  /** Hash of one key's or tenant's usage on one UTC day (`YYYY-MM-DD`), by model; shares the principal's hash tag. */
  usageDay(principal: string, day: string): string;
  /** Tokens one key or tenant used in one UTC month (`YYYY-MM`). */
  usageMonth(principal: string, month: string): string;
  /** Tokens-per-minute state (a GCRA timestamp) of one key or tenant. */
  tokenRate(principal: string): string;
  /** Sorted set of the keys and tenants with usage records, scored by the last day they had one. */
  readonly usagePrincipals: string;
}

export function redisNames(prefix: string): RedisNames {
  return {
    bullPrefix: prefix,
    // BullMQ rejects `:` in queue names; model names such as `llama3:8b` keep
    // their identity through URI encoding, which also escapes `{` and `}`.
    queueName: (model) => `{m.${encodeURIComponent(model)}}`,
    modelOfQueue: (name) => {
      const m = /^\{m\.(.*)\}$/.exec(name);
      return m ? decodeURIComponent(m[1]!) : undefined;
    },
    laneQueueName: (model, dispatcherId) => `{m.${encodeURIComponent(model)}}.lane.${dispatcherId}`,
    laneOfQueue: (name) => {
      const m = /^\{m\.(.*)\}\.lane\.(.+)$/.exec(name);
      return m ? { model: decodeURIComponent(m[1]!), dispatcher: m[2]! } : undefined;
    },
    // Same tag as the model's queues: one lookup (index entries and lane
    // depths) is one pipeline to one Cluster node.
    laneSet: (model) => `${prefix}:aff:{m.${encodeURIComponent(model)}}:lanes`,
    affinityKey: (model, kind, hash) => `${prefix}:aff:{m.${encodeURIComponent(model)}}:${kind}.${hash}`,
    affinityHeads: (model) => `${prefix}:aff:{m.${encodeURIComponent(model)}}:heads`,
    affinityAnnouncements: (model) => `${prefix}:aff:{m.${encodeURIComponent(model)}}:announced`,
    fairShare: (model, priorityClass) => `${prefix}:fair:{m.${encodeURIComponent(model)}}:${priorityClass}`,
    drainTimes: (model) => `${prefix}:fair:{m.${encodeURIComponent(model)}}:drained`,
    prioritizedJobs: (queueName) => `${prefix}:${queueName}:prioritized`,
    waitingJobs: (queueName) => `${prefix}:${queueName}:wait`,
    replyChannel: (ingressId) => `${prefix}:reply:{i.${ingressId}}`,
    controlChannel: `${prefix}:control:{ctl}`,
    engineReadChannel: (id) => `${prefix}:read:{d.${id}}`,
    dispatcherKey: (id) => `${prefix}:{reg}:dispatcher:${id}`,
    dispatcherIndex: `${prefix}:{reg}:dispatchers`,
    modelIndex: `${prefix}:{reg}:models`,
    // The name older versions gave it: a rolling upgrade keeps the records of jobs in flight.
    jobFate: (rid) => `${prefix}:started:{r.${rid}}`,
    // One tag per principal: the limiter's script reads and writes both keys at once.
    principalRate: (p) => `${prefix}:limit:{p.${encodeURIComponent(p)}}:rate`,
    principalLeases: (p) => `${prefix}:limit:{p.${encodeURIComponent(p)}}:leases`,
    // The principal's tag again: one script writes a finished request's record and its charges.
    usageDay: (p, day) => `${prefix}:usage:{p.${encodeURIComponent(p)}}:day:${day}`,
    usageMonth: (p, month) => `${prefix}:usage:{p.${encodeURIComponent(p)}}:month:${month}`,
    tokenRate: (p) => `${prefix}:usage:{p.${encodeURIComponent(p)}}:tpm`,
    usagePrincipals: `${prefix}:usage:{usage}:principals`,
  };
}
