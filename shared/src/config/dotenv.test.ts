import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDotEnv } from './dotenv.js';
import { ConfigError, loadConfig } from './index.js';

function dotenv(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ig-dotenv-'));
  writeFileSync(join(dir, '.env'), text);
  return join(dir, '.env');
}

describe('.env', () => {
  it('adds what the environment lacks; what it has wins, even when empty', () => {
    const env: NodeJS.ProcessEnv = { PORT: '9000', DEFAULT_MODEL: '' };
    loadDotEnv(env, dotenv('# a comment\nPORT=7000\nDEFAULT_MODEL=m\nLOG_LEVEL="debug" # trailing\nexport QUEUE_WAIT_TIMEOUT_SECONDS=5\n'));
    expect(env).toEqual({ PORT: '9000', DEFAULT_MODEL: '', LOG_LEVEL: 'debug', QUEUE_WAIT_TIMEOUT_SECONDS: '5' });
  });

  it('keeps a real variable in either of its forms over .env, so a mounted secret file is not overridden', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-dotenv-'));
    writeFileSync(join(dir, 'key'), 'from-the-real-file\n');
    const path = dotenv(`ENGINE_API_KEY=from-dotenv\nREDIS_PASSWORD_FILE=${join(dir, 'missing')}\n`);
    const env: NodeJS.ProcessEnv = { ENGINE_URL: 'http://e:1', ENGINE_API_KEY_FILE: join(dir, 'key'), REDIS_PASSWORD: 'real' };
    loadDotEnv(env, path);
    expect(env.ENGINE_API_KEY).toBeUndefined();
    expect(env.REDIS_PASSWORD_FILE).toBeUndefined();
    const config = loadConfig('dispatcher', env);
    expect([config.ENGINE_API_KEY, config.REDIS_PASSWORD]).toEqual(['from-the-real-file', 'real']);
  });

  it('a NAME_FILE in .env reads its file like one in the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-dotenv-'));
    writeFileSync(join(dir, 'key'), 'from-a-file\n');
    const env: NodeJS.ProcessEnv = { ENGINE_URL: 'http://e:1' };
    loadDotEnv(env, dotenv(`ENGINE_API_KEY_FILE=${join(dir, 'key')}\n`));
    expect(loadConfig('dispatcher', env).ENGINE_API_KEY).toBe('from-a-file');
  });

  it('no file changes nothing; an unreadable one is a configuration error naming it', () => {
    const env: NodeJS.ProcessEnv = { PORT: '1' };
    loadDotEnv(env, join(tmpdir(), 'ig-no-such-dir', '.env'));
    expect(env).toEqual({ PORT: '1' });
    const dir = mkdtempSync(join(tmpdir(), 'ig-dotenv-'));
    mkdirSync(join(dir, '.env'));
    expect(() => loadDotEnv(env, join(dir, '.env'))).toThrow(ConfigError);
    expect(() => loadDotEnv(env, join(dir, '.env'))).toThrow(/\.env: cannot read .*\(EISDIR\)/);
  });
});
