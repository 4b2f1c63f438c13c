import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '@infergate/sim';
import { freePort, spawnService, type ServiceProcess } from '@infergate/stack';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { waitFor } from '../support/services.js';

/*
 * `cp .env.example .env`, edit, start: each entry point reads `.env` from
 * its working directory, and a variable set in the real environment wins
 * over the file.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A working directory holding only a `.env` with these lines. */
function directoryWith(lines: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ig-dotenv-e2e-'));
  writeFileSync(join(dir, '.env'), `${lines.join('\n')}\n`);
  return dir;
}

/** This test's environment without the variables a case puts in `.env`. */
function envWithout(names: readonly string[], extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', ...extra };
  for (const name of names) if (!(name in extra)) delete env[name];
  return env;
}

interface Run {
  readonly exited: Promise<number | null>;
  output(): string;
  stop(): Promise<unknown>;
}

/** `npm start`'s command (the stack launcher through tsx) in `cwd`. */
function startStack(cwd: string, env: NodeJS.ProcessEnv): Run {
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['--conditions=development', join(ROOT, 'infra/stack/src/main.ts')], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // tsx passes SIGTERM on to the launcher, which stops what it started.
  const stop = (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return { exited, output: () => out, stop };
}

// A case that fails by not exiting has started a stack or a service, which must not outlive it.
const running: Run[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

describe('.env in the working directory', () => {
  it.each([
    ['npm start', 'stack', 'PORT=eighty', /infergate stack: Invalid configuration:\n {2}- PORT:/],
    ['npm run start:ingress', 'ingress', 'PORT=eighty', /infergate ingress: Invalid configuration:\n {2}- PORT:/],
    ['npm run start:dispatcher', 'dispatcher', 'STATUS_PORT=ninety', /infergate dispatcher: Invalid configuration:\n {2}- STATUS_PORT:/],
  ] as const)('%s reads it: a bad value there stops it with exit 78, naming the variable', async (_name, entry, line, message) => {
    const name = line.split('=')[0]!;
    const cwd = directoryWith([line, 'ENGINE_URL=http://127.0.0.1:9', 'ALLOW_OPEN_ACCESS=true']);
    const env = envWithout([name, 'ENGINE_URL']);
    const run = entry === 'stack' ? startStack(cwd, env) : spawnService(entry, env, { cwd });
    running.push(run);
    expect(await run.exited).toBe(78);
    expect(run.output()).toMatch(message);
  }, 60_000);

  describe('a real environment variable wins over it', () => {
    let redis: TestRedis;
    let sim: SimulatorHandle;
    let dispatcher: ServiceProcess | undefined;
    beforeAll(async () => {
      [redis, sim] = await Promise.all([startTestRedis(), startSimulator({ kind: 'llamacpp', slots: 1 })]);
    });
    afterAll(async () => {
      await dispatcher?.stop();
      await Promise.all([sim?.close(), redis?.stop()]);
    });

    it('the dispatcher starts with the real STATUS_PORT and the rest of its settings from .env', async () => {
      const cwd = directoryWith(['STATUS_PORT=ninety', `ENGINE_URL=${sim.url}`, `REDIS_URL=${redis.url}`, `REDIS_PREFIX=${uniquePrefix()}`]);
      const port = await freePort();
      dispatcher = spawnService('dispatcher', envWithout(['ENGINE_URL', 'REDIS_URL', 'REDIS_PREFIX'], { STATUS_PORT: String(port) }), { cwd });
      // Ready means it reached the engine and Redis that only .env names.
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 30_000, `dispatcher /readyz\n${dispatcher.output()}`);
      expect(dispatcher.output()).not.toMatch(/Invalid configuration/);
    }, 60_000);
  });
});
