import { gatewayError } from '../errors.js';
import type { RedisClient } from '../redis/connection.js';
import type { RedisNames } from '../redis/names.js';

/*
 * Usage records: one Redis hash per key (or tenant) and UTC day, its
 * fields `<model>:<counter>` (the model URI-encoded, so it holds no `:`),
 * plus `tokens`, the day's total that the daily budget is held against.
 * The ingress writes them (ingress/src/usage), the CLI, the admin API and
 * `/v1/usage` read them through `readUsage`, so all three show the same.
 */

export const USAGE_COUNTERS = ['requests', 'prompt_tokens', 'cached_prompt_tokens', 'completion_tokens', 'errors', 'estimated'] as const;
export type UsageCounter = (typeof USAGE_COUNTERS)[number];
/** The day's prompt + completion tokens over every model. */
export const DAY_TOTAL_FIELD = 'tokens';

/** The start of a model's field names in a day hash; a counter's name follows it. */
export const modelFieldPrefix = (model: string): string => `${encodeURIComponent(model)}:`;

/** One key's use of one model on one UTC day. */
export interface UsageRecord {
  /** `key:<id>` or `tenant:<name>`, as the request log names it. */
  readonly key: string;
  readonly model: string;
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string;
  readonly requests: number;
  readonly prompt_tokens: number;
  readonly cached_prompt_tokens: number;
  readonly completion_tokens: number;
  /** Requests that ended in an error. */
  readonly errors: number;
  /** Some of the day's figures were counted, not reported by the engine (see TokenUsage.estimated). */
  readonly estimated: boolean;
}

export interface UsageFilter {
  /** `key:<id>`, `tenant:<name>`, or a bare id that matches either kind. */
  readonly key?: string;
  readonly model?: string;
  /** First day to include, `YYYY-MM-DD`; default 30 days back. */
  readonly since?: string;
}

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;
/** Days one read may cover: a wide `--since` must not turn one request into millions of Redis reads. */
export const MAX_USAGE_DAYS = 3660;

export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
export const utcMonth = (ms: number): string => new Date(ms).toISOString().slice(0, 7);
/** Epoch ms of a `YYYY-MM-DD` day's start; NaN when it is no such day. */
export const dayStart = (day: string): number => (/^\d{4}-\d{2}-\d{2}$/.test(day) ? Date.parse(`${day}T00:00:00Z`) : Number.NaN);

export function isUsageDay(day: string): boolean {
  return Number.isFinite(dayStart(day)) && utcDay(dayStart(day)) === day;
}

/**
 * The filter of a usage query (`?key=&model=&since=`, or the CLI's options),
 * checked: a bad `since` is the catalog's invalid_parameter, as everywhere.
 */
export function usageFilterOf(query: { readonly key?: unknown; readonly model?: unknown; readonly since?: unknown }): UsageFilter {
  const text = (name: string, v: unknown): string | undefined => {
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw gatewayError('invalid_parameter', `'${name}' must be given once.`, { param: name });
    return v;
  };
  const since = text('since', query.since);
  if (since !== undefined && !isUsageDay(since)) throw gatewayError('invalid_parameter', `'since' must be a day, YYYY-MM-DD (got '${since}').`, { param: 'since' });
  const key = text('key', query.key);
  const model = text('model', query.model);
  return { ...(key === undefined ? {} : { key }), ...(model === undefined ? {} : { model }), ...(since === undefined ? {} : { since }) };
}

function matchesKey(principal: string, wanted: string | undefined): boolean {
  if (wanted === undefined) return true;
  return principal === wanted || principal.slice(principal.indexOf(':') + 1) === wanted;
}

/** The records matching `filter`, oldest day first, then by key and model. */
export async function readUsage(redis: RedisClient, names: RedisNames, filter: UsageFilter, now = Date.now()): Promise<UsageRecord[]> {
  const today = dayStart(utcDay(now));
  const from = filter.since === undefined ? today - (DEFAULT_DAYS - 1) * DAY_MS : Math.max(dayStart(filter.since), today - MAX_USAGE_DAYS * DAY_MS);
  const principals = (await redis.zrangebyscore(names.usagePrincipals, from, '+inf')).filter((p) => matchesKey(p, filter.key));
  const days: string[] = [];
  for (let d = from; d <= today; d += DAY_MS) days.push(utcDay(d));
  const reads = principals.flatMap((principal) => days.map((day) => ({ principal, day })));
  const hashes = await Promise.all(reads.map(({ principal, day }) => redis.hgetall(names.usageDay(principal, day))));
  const records: UsageRecord[] = [];
  reads.forEach(({ principal, day }, i) => records.push(...recordsOf(principal, day, hashes[i]!, filter.model)));
  return records.sort((a, b) => a.day.localeCompare(b.day) || a.key.localeCompare(b.key) || a.model.localeCompare(b.model));
}

function recordsOf(key: string, day: string, hash: Record<string, string>, model: string | undefined): UsageRecord[] {
  const byModel = new Map<string, Partial<Record<UsageCounter, number>>>();
  for (const [name, value] of Object.entries(hash)) {
    const colon = name.lastIndexOf(':');
    if (colon < 0) continue;
    const m = decodeURIComponent(name.slice(0, colon));
    if (model !== undefined && m !== model) continue;
    let counters = byModel.get(m);
    if (!counters) byModel.set(m, (counters = {}));
    counters[name.slice(colon + 1) as UsageCounter] = Number(value);
  }
  return [...byModel].map(([m, c]) => ({
    key,
    model: m,
    day,
    requests: c.requests ?? 0,
    prompt_tokens: c.prompt_tokens ?? 0,
    cached_prompt_tokens: c.cached_prompt_tokens ?? 0,
    completion_tokens: c.completion_tokens ?? 0,
    errors: c.errors ?? 0,
    estimated: (c.estimated ?? 0) > 0,
  }));
}
