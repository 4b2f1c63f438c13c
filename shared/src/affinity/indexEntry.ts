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
 * The script that records a holder: puts it first in each key's list, drops
 * its older mention, keeps MAX_INDEX_HOLDERS and renews the TTL. Every key
 * of one call is in one model's hash slot. ARGV: the holder's entry, its
 * dispatcher id followed by a space, the TTL in seconds.
 */
export const RECORD_HOLDER_SCRIPT = `
for i, key in ipairs(KEYS) do
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
return #KEYS
`;
