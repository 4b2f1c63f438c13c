import {
  cancelJob,
  DEFAULT_JOB_LIMIT,
  fleetStatus,
  gatewayError,
  GONE_DISPATCHER_MEMORY_MS,
  isQueueJobState,
  LIVE_JOB_STATES,
  readDispatchers,
  readModels,
  readUsage,
  usageFilterOf,
  type QueueInspector,
  type QueueJobState,
  type QueueSummary,
  type RedisClient,
  type RedisNames,
} from '@infergate/shared';
import { duration, table } from './format.js';

export interface Session {
  readonly redis: RedisClient;
  readonly names: RedisNames;
  readonly inspector: QueueInspector;
}

export interface CommandArgs {
  readonly positionals: readonly string[];
  readonly state: string | undefined;
  readonly limit: string | undefined;
  readonly key?: string | undefined;
  readonly model?: string | undefined;
  readonly since?: string | undefined;
}

/** What a command found: the data for `--json`, and its table for people. */
export interface CommandResult {
  readonly data: unknown;
  readonly text: string;
}

type Command = (session: Session, args: CommandArgs) => Promise<CommandResult>;

/** A usage mistake: exit code 2 and the usage text. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const knownModels = (s: Session) => readModels(s.redis, s.names);

async function knownModel(s: Session, args: CommandArgs): Promise<string> {
  const model = args.positionals[0];
  if (model === undefined) throw new UsageError('a model name is required');
  if (!(await knownModels(s)).includes(model)) throw gatewayError('model_not_found', `No dispatcher has served the model '${model}'.`);
  return model;
}

/** One row per model queue, then one per affinity lane of it (`model lane <dispatcher>`). */
function queuesTable(queues: readonly QueueSummary[]): string {
  return table(
    ['MODEL', 'PAUSED', 'WAITING', 'PRIORITIZED', 'DELAYED', 'ACTIVE', 'OLDEST'],
    queues.flatMap((q) => [
      [q.model, q.paused ? 'yes' : 'no', q.counts.waiting, q.counts.prioritized, q.counts.delayed, q.counts.active, duration(q.oldestAgeMs)],
      ...q.lanes.map((l) => [`${q.model} lane ${l.dispatcher}`, q.paused ? 'yes' : 'no', l.counts.waiting, l.counts.prioritized, l.counts.delayed, l.counts.active, duration(l.oldestAgeMs)]),
    ]),
  );
}

export const commands: Readonly<Record<string, Command>> = {
  async status(s) {
    const status = await fleetStatus(s.inspector, s.redis, s.names, await knownModels(s));
    const d = status.dispatchers;
    const text =
      `dispatchers: ${d.alive} alive (${d.ready} with a ready engine), ${d.gone} gone in the last hour\n` +
      `slots:       ${d.slots.busy} busy / ${d.slots.total} total, ${d.slots.free} free\n\n` +
      queuesTable(status.queues);
    return { data: status, text };
  },

  async queues(s) {
    const queues = await s.inspector.summaries(await knownModels(s));
    return { data: queues, text: queuesTable(queues) };
  },

  async jobs(s, args) {
    const model = await knownModel(s, args);
    const states = args.state === undefined ? LIVE_JOB_STATES : args.state.split(',').map((x) => x.trim());
    for (const state of states) if (!isQueueJobState(state)) throw new UsageError(`unknown job state '${state}'`);
    const jobs = await s.inspector.jobs(model, states as QueueJobState[], args.limit === undefined ? DEFAULT_JOB_LIMIT : Number(args.limit));
    const text = table(
      ['ID', 'STATE', 'POSITION', 'AGE', 'PRIORITY', 'ATTEMPTS', 'DISPATCHER', 'KEY', 'PATH', 'LANE'],
      jobs.map((j) => [j.id, j.state, j.position ?? '-', duration(j.ageMs), j.priority, j.attempts, j.dispatcher ?? '-', j.keyId ?? '-', j.path ?? '-', j.lane ?? '-']),
    );
    return { data: jobs, text };
  },

  async cancel(s, args) {
    const id = args.positionals[0];
    if (id === undefined) throw new UsageError('a job id is required');
    const result = await cancelJob(s.inspector, s.redis, s.names, id, await knownModels(s));
    const text =
      result.action === 'removed'
        ? `removed ${id} from the ${result.model} queue (${result.state}); ${result.receivers > 0 ? 'its client was told' : 'no ingress holds its client'}\n`
        : `${id} is running: cancel sent to ${result.receivers} dispatcher(s)\n`;
    return { data: result, text };
  },

  async dispatchers(s) {
    const list = await readDispatchers(s.redis, s.names, GONE_DISPATCHER_MEMORY_MS);
    const now = Date.now();
    const text = table(
      ['ID', 'ALIVE', 'LAST BEAT', 'ENGINE', 'KIND', 'MODELS', 'READY', 'BUSY/SLOTS', 'FREE', 'BLOCKED BY'],
      list.map((d) => [
        d.id,
        d.alive ? 'yes' : 'no',
        `${duration(now - d.lastHeartbeatAt)} ago`,
        d.state?.engineUrl ?? '-',
        d.state?.engineKind ?? '-',
        d.state?.models.join(',') ?? '-',
        d.state ? (d.state.ready ? 'yes' : 'no') : '-',
        d.state ? `${d.state.slots.busy}/${d.state.slots.total}` : '-',
        d.state?.slots.free ?? '-',
        d.state?.blockedBy ?? '-',
      ]),
    );
    return { data: list, text };
  },

  async usage(s, args) {
    const records = await readUsage(s.redis, s.names, usageFilterOf({ key: args.key, model: args.model, since: args.since }));
    const text = table(
      ['DAY', 'KEY', 'MODEL', 'REQUESTS', 'PROMPT', 'CACHED', 'COMPLETION', 'ERRORS', 'ESTIMATED'],
      records.map((r) => [r.day, r.key, r.model, r.requests, r.prompt_tokens, r.cached_prompt_tokens, r.completion_tokens, r.errors, r.estimated ? 'yes' : 'no']),
    );
    return { data: records, text };
  },

  async pause(s, args) {
    const summary = await s.inspector.setPaused(await knownModel(s, args), true);
    return { data: summary, text: `paused the ${summary.model} queue (${summary.counts.waiting} waiting)\n` };
  },

  async resume(s, args) {
    const summary = await s.inspector.setPaused(await knownModel(s, args), false);
    return { data: summary, text: `resumed the ${summary.model} queue (${summary.counts.waiting} waiting)\n` };
  },
};
