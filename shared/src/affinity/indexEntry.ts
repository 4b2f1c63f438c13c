/**
 * The value of an index entry: which dispatcher's engine served the prefix or
 * session, and in which epoch of that engine's cache. A dispatcher starts a
 * new epoch when its engine restarts, which voids every entry of the old one
 * without touching them: readers compare with the epoch in the registry.
 */
export interface IndexEntry {
  readonly dispatcher: string;
  readonly epoch: string;
}

export function encodeIndexEntry(entry: IndexEntry): string {
  return `${entry.dispatcher} ${entry.epoch}`;
}

export function parseIndexEntry(raw: string | null | undefined): IndexEntry | undefined {
  if (!raw) return undefined;
  const space = raw.indexOf(' ');
  if (space <= 0) return undefined;
  return { dispatcher: raw.slice(0, space), epoch: raw.slice(space + 1) };
}
