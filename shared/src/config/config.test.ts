import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../../tests/support/configProblems.js';
import { knownVariables, loadConfig } from './index.js';


describe('configuration', () => {
  it('names a missing required variable', () => {
    const problems = problemsOf(() => loadConfig('dispatcher', {}));
    expect(problems).toEqual([expect.stringMatching(/^ENGINE_URL: is required/)]);
  });

  it('names every malformed variable at once', () => {
    const problems = problemsOf(() =>
      loadConfig('ingress', { PORT: 'eighty', REDIS_URL: 'http://x', QUEUE_WAIT_TIMEOUT_SECONDS: '-1', UNKNOWN_MODEL: 'maybe' }),
    );
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['PORT', 'QUEUE_WAIT_TIMEOUT_SECONDS', 'REDIS_URL', 'UNKNOWN_MODEL']);
  });

  it('finds the ingress settings that contradict each other or the route table at start-up, naming the variable', () => {
    const open = { ALLOW_OPEN_ACCESS: 'true' };
    expect(problemsOf(() => loadConfig('ingress', { ...open, METRICS_REQUIRE_ADMIN_KEY: 'true' }))).toEqual([
      'METRICS_REQUIRE_ADMIN_KEY: needs ADMIN_API_KEY to be set',
    ]);
    expect(problemsOf(() => loadConfig('ingress', { ...open, FORWARD_PATHS: 'llama,/metrics' }))).toEqual([
      "FORWARD_PATHS: 'llama' is neither a path nor one of llamacpp, vllm, defaults",
      "FORWARD_PATHS: '/metrics' is a route of the ingress itself",
    ]);
  });

  it('applies defaults, converts types and freezes the result', () => {
    const config = loadConfig('dispatcher', { ENGINE_URL: 'http://127.0.0.1:8080', MODEL_ALIASES: 'a, b,,c', METRICS_CACHE_TTL_SECONDS: '0.25' });
    expect(config.BACKEND_TIMEOUT_SECONDS).toBe(300);
    expect(config.METRICS_CACHE_TTL_SECONDS).toBe(0.25);
    expect(config.MODEL_ALIASES).toEqual(['a', 'b', 'c']);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('treats empty values as unset, as a copied .env.example leaves them', () => {
    const config = loadConfig('ingress', { DEFAULT_MODEL: '', PORT: '' });
    expect(config.DEFAULT_MODEL).toBeUndefined();
    expect(config.PORT).toBe(8888);
  });

  it('reads NAME_FILE for secrets, and a directly set value wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-config-'));
    const file = join(dir, 'key');
    writeFileSync(file, 'from-file-secret\n');
    const base = { ENGINE_URL: 'http://e:1' };
    expect(loadConfig('dispatcher', { ...base, ENGINE_API_KEY_FILE: file }).ENGINE_API_KEY).toBe('from-file-secret');
    expect(loadConfig('dispatcher', { ...base, ENGINE_API_KEY_FILE: file, ENGINE_API_KEY: 'direct' }).ENGINE_API_KEY).toBe('direct');
    expect(problemsOf(() => loadConfig('dispatcher', { ...base, ENGINE_API_KEY_FILE: join(dir, 'missing') }))).toEqual([
      expect.stringMatching(/^ENGINE_API_KEY_FILE: cannot read/),
    ]);
  });

  it('ignores unrelated *_FILE variables of the environment', () => {
    expect(() => loadConfig('ingress', { TF_CLI_CONFIG_FILE: '/nonexistent' })).not.toThrow();
  });

  it('documents every variable in .env.example', () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
    const example = readFileSync(join(root, '.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect(knownVariables.filter((v) => !documented.has(v))).toEqual([]);
  });
});
