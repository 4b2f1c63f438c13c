import { readFileSync } from 'node:fs';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Resolves `NAME_FILE` indirections so secrets can come from mounted files
 * (Docker/Kubernetes secrets) instead of the environment. A value set
 * directly wins over its file, so an operator can override a mounted secret.
 */
export function resolveFileVariables(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined) out[key] = value;
  }
  for (const [key, path] of Object.entries(env)) {
    if (!key.endsWith('_FILE') || path === undefined || path === '') continue;
    const name = key.slice(0, -'_FILE'.length);
    if (out[name] !== undefined && out[name] !== '') continue;
    try {
      out[name] = readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new ConfigError([`${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
  }
  return out;
}

/** Start-up configuration failure; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}
