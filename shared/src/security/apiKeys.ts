import { createHash } from 'node:crypto';

/*
 * API keys live in memory only as SHA-256 hashes: the plaintext is read once
 * at start-up, hashed, and dropped. Each key gets an id that is safe to log
 * and to name in KEY_POLICIES: an operator-chosen name (`name:key` entries)
 * or the first 8 hex digits of the key's hash.
 */

export interface ApiKeyEntry {
  readonly id: string;
  readonly hash: Buffer;
}

/** Short keys can be guessed online and confirmed offline from their logged id. */
export const MIN_API_KEY_LENGTH = 16;

const NAMED_ENTRY = /^([A-Za-z0-9_.-]{1,64}):(.+)$/;

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/**
 * Parses a key list: entries separated by commas, whitespace or newlines (the
 * environment form and the one-key-per-line file form), `#` starting a
 * comment to the end of its line. Problems never quote a key.
 */
export function parseApiKeyList(text: string): { entries: ApiKeyEntry[]; problems: string[] } {
  const raw = text
    .split('\n')
    .map((line) => line.replace(/#.*/, ''))
    .join('\n')
    .split(/[\s,]+/)
    .filter((s) => s.length > 0);
  const entries: ApiKeyEntry[] = [];
  const problems: string[] = [];
  const ids = new Set<string>();
  const hashes = new Set<string>();
  raw.forEach((item, i) => {
    const named = NAMED_ENTRY.exec(item);
    const key = named ? named[2]! : item;
    const hash = hashApiKey(key);
    const id = named ? named[1]! : hash.toString('hex').slice(0, 8);
    if (key.length < MIN_API_KEY_LENGTH) {
      problems.push(`entry ${i + 1} (id ${id}) is shorter than ${MIN_API_KEY_LENGTH} characters`);
    } else if (hashes.has(hash.toString('hex'))) {
      problems.push(`entry ${i + 1} (id ${id}) repeats a key listed before it`);
    } else if (ids.has(id)) {
      problems.push(`entry ${i + 1}: the id ${id} is taken by an earlier entry`);
    } else {
      ids.add(id);
      hashes.add(hash.toString('hex'));
      entries.push({ id, hash });
    }
  });
  return { entries, problems };
}
