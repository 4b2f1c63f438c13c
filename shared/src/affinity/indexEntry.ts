import type { RedisNames } from '../redis/names.js';

/**
 * One holder of an index entry: which dispatcher's engine served the prefix
 * or session, and in which epoch of that engine's cache. A dispatcher starts
 * a new epoch when its engine restarts, which voids every entry of the old
 * one without touching them: readers compare with the epoch in the registry.
 */
export interface IndexEntry {
  readonly dispatcher: string;
  readonly epoch: string;
}

/**
 * How many engines an entry remembers, newest first. A prefix every request
 * shares (a common system prompt) is soon held by every engine; with only
 * the last one named, every request would wait in that one engine's lane
 * while the others, as warm, stood idle.
 */
export const MAX_INDEX_HOLDERS = 4;

/** The separator of holders in an entry's value; dispatcher ids and epochs never contain it. */
const HOLDERS_SEPARATOR = ';';

export function encodeIndexEntry(entry: IndexEntry): string {
  return `${entry.dispatcher} ${entry.epoch}`;
}

/** The holders an entry's value names, newest first (none for a missing or unreadable value). */
export function parseIndexHolders(raw: string | null | undefined): IndexEntry[] {
  if (!raw) return [];
  const holders: IndexEntry[] = [];
  for (const part of raw.split(HOLDERS_SEPARATOR)) {
    const space = part.indexOf(' ');
    if (space > 0) holders.push({ dispatcher: part.slice(0, space), epoch: part.slice(space + 1) });
  }
  return holders;
}

/**
 * The heads of a request's keys, as the index's heads set names them: its
 * first prefix block (a match on any block implies one on the first) and its
 * session. An index that holds neither holds nothing for the request.
 */
export function indexHeads(firstBlock: string | undefined, session: string | undefined): string[] {
  const heads = firstBlock === undefined ? [] : [`b.${firstBlock}`];
  if (session !== undefined) heads.push(`s.${session}`);
  return heads;
}

/** What a dispatcher publishes after recording: the heads it recorded and how long their entries live. */
export interface HeadsAnnouncement {
  readonly ttlSeconds: number;
  readonly heads: readonly string[];
}

export function encodeHeadsAnnouncement(announcement: HeadsAnnouncement): string {
  return `${announcement.ttlSeconds} ${announcement.heads.join(' ')}`;
}

/** Undefined for a message that is not an announcement. */
export function parseHeadsAnnouncement(message: Buffer | string): HeadsAnnouncement | undefined {
  const [ttl, ...heads] = message.toString().split(' ');
  const ttlSeconds = Number(ttl);
  return Number.isFinite(ttlSeconds) && ttlSeconds > 0 && heads.length > 0 ? { ttlSeconds, heads } : undefined;
}

/**
 * The script that records a holder: puts it first in each index key's list,
 * drops its older mention, keeps MAX_INDEX_HOLDERS and renews the TTL; then
 * scores the heads in the heads set with their new expiry (milliseconds,
 * Redis's clock), drops the expired ones and lets the set itself expire with
 * its last entry. KEYS: the heads set, then the index keys, all in one
 * model's hash slot. ARGV: the holder's entry, its dispatcher id followed by
 * a space, the TTL in seconds, then the heads.
 */
export const RECORD_HOLDER_SCRIPT = `
for i = 2, #KEYS do
  local key = KEYS[i]
  local value = ARGV[1]
  local count = 1
  local old = redis.call('GET', key)
  if old then
    for part in string.gmatch(old, '[^${HOLDERS_SEPARATOR}]+') do
      if count >= ${MAX_INDEX_HOLDERS} then break end
      if string.sub(part, 1, #ARGV[2]) ~= ARGV[2] then
        value = value .. '${HOLDERS_SEPARATOR}' .. part
        count = count + 1
      end
    end
  end
  redis.call('SET', key, value, 'EX', ARGV[3])
end
if #ARGV > 3 then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local ttl = tonumber(ARGV[3]) * 1000
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local scored = {}
  for i = 4, #ARGV do
    scored[#scored + 1] = now + ttl
    scored[#scored + 1] = ARGV[i]
  end
  redis.call('ZADD', KEYS[1], unpack(scored))
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return #KEYS - 1
`;

/** One recording of a job's keys: the record script's KEYS and ARGV, then the announcement sent after it. */
export interface IndexRecord {
  readonly keys: readonly string[];
  readonly args: ReadonlyArray<string | number>;
  readonly channel: string;
  readonly announcement: string;
}

/** What recording `holder` for `affinity`'s blocks and session of `model` sends, for {@link RECORD_HOLDER_SCRIPT}. */
export function indexRecord(
  names: RedisNames,
  model: string,
  affinity: { readonly blocks: readonly string[]; readonly session?: string | undefined },
  holder: IndexEntry,
  ttlSeconds: number,
): IndexRecord {
  const keys = [names.affinityHeads(model), ...affinity.blocks.map((hash) => names.affinityKey(model, 'b', hash))];
  if (affinity.session !== undefined) keys.push(names.affinityKey(model, 's', affinity.session));
  const heads = indexHeads(affinity.blocks[0], affinity.session);
  return {
    keys,
    args: [encodeIndexEntry(holder), `${holder.dispatcher} `, ttlSeconds, ...heads],
    channel: names.affinityAnnouncements(model),
    announcement: encodeHeadsAnnouncement({ ttlSeconds, heads }),
  };
}
