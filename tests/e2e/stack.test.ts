import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort } from '@infergate/stack';
import { waitFor } from '../support/services.js';

/*
 * `npm start` as a person runs it: a foreground job in a terminal, whose
 * Ctrl-C the terminal sends to every process of the job's process group.
 * The whole stack must stop once, in order, and leave nothing behind.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every process below `root`, from the process table. */
function descendants(root: number): number[] {
  const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const [pid, ppid] of table) {
      if (ppid !== parent) continue;
      found.push(pid);
      walk(pid);
    }
  };
  walk(root);
  return found;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start', () => {
  // `npm start` runs this tsx command; under npm itself the same Ctrl-C is forwarded once more.
  it.each([
    ['the launcher (tsx, as npm start runs it)', `${ROOT}node_modules/.bin/tsx`, ['--conditions=development', 'infra/stack/src/main.ts']],
    ['npm start', 'npm', ['start', '--silent']],
  ])('%s: one Ctrl-C stops everything once, in order, and every process exits', async (_name, command, args) => {
    const port = await freePort();
    // A foreground job: its own process group, whose leader the terminal's Ctrl-C reaches with all its members.
    const job = spawn(command, args, {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, PORT: String(port), REDIS_URL: '', BACKENDS: '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    job.stdout.on('data', (d: Buffer) => (out += d.toString()));
    job.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // 'close', not 'exit': a busy test process can learn of the job's exit before it has read the
    // launcher's last lines from the pipe (CI saw "[stack] stopped" missing under npm that way).
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => job.once('close', (code, signal) => resolve([code, signal])));
    let processes: number[] = [];
    try {
      await waitFor(() => out.includes('[stack] ready'), 90_000, `the stack on ${port}: ${out}`);
      // Ready means the ingress serves; the second dispatcher may still be starting, and the order of
      // the stop is only defined for processes that are up.
      const started = (label: string) => new RegExp(`\\[${label}\\][^\\n]*"msg":"dispatcher started"`).test(out);
      await waitFor(() => started('dispatcher-1') && started('dispatcher-2'), 60_000, `both dispatchers started: ${out}`);
      const answer = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'any', messages: [{ role: 'user', content: 'Tell me a story' }] }),
      });
      expect(answer.status).toBe(200);
      processes = descendants(job.pid!);
      // The launcher, Redis, two simulated engines, two dispatchers and the ingress at least.
      expect(processes.length, out).toBeGreaterThanOrEqual(7);

      process.kill(-job.pid!, 'SIGINT');
      const [code, signal] = await exited;
      // npm re-raises the SIGINT it got on itself once its script has ended; tsx passes on the launcher's code.
      if (command === 'npm') expect([code, signal], out).toEqual([null, 'SIGINT']);
      else expect([code, signal], out).toEqual([0, null]);
      expect(out).toContain('[stack] SIGINT: stopping');
      expect(out).toContain('[stack] stopped');
      expect(out).not.toMatch(/second SIG/);
      expect(out).not.toMatch(/control channel interrupted/);
      expect(out).not.toMatch(/killing everything/);
      const stopping = (label: string) => out.search(new RegExp(`\\[${label}\\][^\\n]*"msg":"stopping"`));
      expect(stopping('ingress'), out).toBeGreaterThan(0);
      expect(stopping('ingress'), out).toBeLessThan(stopping('dispatcher-1'));
      // tsx's esbuild helpers leave once the service that ran them has gone, a moment after it.
      await waitFor(() => processes.filter(alive).length === 0, 10_000, `every process gone: ${processes.filter(alive).join(', ')}\n${out}`);
    } finally {
      if (job.exitCode === null && job.signalCode === null) process.kill(-job.pid!, 'SIGKILL');
      for (const pid of processes.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  }, 150_000);
});
