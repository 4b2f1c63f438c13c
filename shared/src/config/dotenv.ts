/*
 * `.env` in the working directory, for `npm start` and the services started
 * by hand (`cp .env.example .env`, then edit). Variables the environment
 * already has win, even empty ones, and also when the environment gives the
 * other form of the same variable: a real `API_KEYS_FILE` is not overridden
 * by `API_KEYS` from `.env`, nor a real `API_KEYS` by `.env`'s
 * `API_KEYS_FILE`. Node's own parser reads the file (util.parseEnv, the
 * same on Node 20 and 24); loadEnvFile would not know the `_FILE` rule.
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { ConfigError } from './env.js';

const FILE_SUFFIX = '_FILE';

/** The other form of a variable: `X` for `X_FILE`, `X_FILE` for `X`. */
const otherForm = (name: string): string => (name.endsWith(FILE_SUFFIX) ? name.slice(0, -FILE_SUFFIX.length) : `${name}${FILE_SUFFIX}`);

/** Adds the variables of `path` that `env` lacks; no file is no change. Throws ConfigError if it cannot be read. */
export function loadDotEnv(env: NodeJS.ProcessEnv = process.env, path = '.env'): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new ConfigError([`.env: cannot read ${path} (${code ?? 'error'})`]);
  }
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (value === undefined || name in env || otherForm(name) in env) continue;
    env[name] = value;
  }
}
