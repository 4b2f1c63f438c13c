import { readFileSync } from 'node:fs';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Resolves `NAME_FILE` indirections so secrets can come from mounted files
 * (Docker/Kubernetes secrets) instead of the environment. A value set
 * directly wins over its file, so an operator can override a mounted secret.
 */
export function resolveFileVariables(
  env: Env,
  names: readonly string[],
): { values: Record<string, string>; problems: string[] } {
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') {
      out[name] = value;
      continue;
    }
    const key = `${name}_FILE`;
    const path = env[key];
    if (path === undefined || path === '') continue;
    try {
      out[name] = readFileSync(path, 'utf8').trim();
    } catch (err) {
      problems.push(`${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return { values: out, problems };
}

/** Start-up configuration failure; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}
