import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '@infergate/cli';
import { freePort } from '@infergate/stack';
import { chat } from '../support/gate.js';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { waitFor } from '../support/services.js';

/*
 * The `infergate` CLI against a running fleet: the installed command (the
 * bin shim, as a separate process) for exit codes and real effects, and
 * runCli in this process for the rest of the output.
 */

const MODEL = 'cli-model';
const PROMPT = 'a secret prompt';
const BIN = fileURLToPath(new URL('../../infra/cli/bin/infergate.js', import.meta.url));
let fleet: TestFleet;
let env: Record<string, string>;

beforeAll(async () => {
  fleet = await startTestFleet({ sims: [{ kind: 'llamacpp', slots: 2, ttftMs: 10, itlMs: 5, tokens: 8, modelId: MODEL }] });
  env = { REDIS_URL: fleet.env.REDIS_URL!, REDIS_PREFIX: fleet.prefix };
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
});

interface Run {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
  readonly ms: number;
}

/** The installed command, as an operator runs it. */
function infergate(args: readonly string[], extraEnv: Record<string, string> = env): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err, ms: Date.now() - started })));
}

/** The same CLI in this process. */
async function cli(...args: string[]): Promise<Run> {
  const started = Date.now();
  let out = '';
  let err = '';
  const code = await runCli(args, env, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err, ms: Date.now() - started };
}

describe('infergate CLI', () => {
  it('pauses a queue, shows its waiting job, and cancels it: the waiting client gets an error', async () => {
    expect(await cli('pause', MODEL)).toMatchObject({ code: 0, out: expect.stringMatching(/^paused the cli-model queue/) });
    const answer = fetch(`${fleet.ingresses[0]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: PROMPT }] }),
    });

    const queues = await waitFor(async () => {
      const run = await cli('queues', '--json');
      const q = (JSON.parse(run.out) as Array<{ model: string; counts: Record<string, number> }>).find((x) => x.model === MODEL)!;
      return q.counts.waiting! + q.counts.prioritized! === 1 ? run : undefined;
    }, 10_000, 'a waiting job');
    expect(queues.code).toBe(0);
    const table = await cli('queues');
    expect(table.out.split('\n')[0]).toMatch(/^MODEL\s+PAUSED\s+WAITING\s+PRIORITIZED\s+DELAYED\s+ACTIVE\s+OLDEST$/);
    expect(table.out).toMatch(/^cli-model\s+yes\s+/m);

    const jobs = await cli('jobs', MODEL, '--json');
    expect(jobs.code).toBe(0);
    const [job] = JSON.parse(jobs.out) as Array<{ id: string; state: string; dispatcher: string | null }>;
    expect(job).toMatchObject({ dispatcher: null });
    expect(jobs.out).not.toContain(PROMPT);
    expect((await cli('jobs', MODEL, '--state', 'waiting,prioritized')).out).toContain(job!.id);

    const cancel = await infergate(['cancel', job!.id]);
    expect(cancel).toMatchObject({ code: 0, err: '' });
    expect(cancel.out).toBe(`removed ${job!.id} from the cli-model queue (${job!.state}); its client was told\n`);
    const res = await answer;
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe('operator_cancelled');

    expect((await cli('resume', MODEL)).code).toBe(0);
    expect((await chat(fleet.ingresses[0]!.url, MODEL, 2)).status).toBe(200);
  });

  it('shows the fleet status and the dispatchers', async () => {
    const status = await infergate(['status']);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^dispatchers: 1 alive \(1 with a ready engine\), 0 gone in the last hour\nslots: +\d+ busy \/ 2 total/);
    expect(status.out).toMatch(/^cli-model\s+no\s+0\s+0\s+0\s+0\s+-$/m);
    const dispatchers = await cli('dispatchers');
    expect(dispatchers.out).toMatch(/^d0\s+yes\s+\S+ ago\s+http:\/\/127\.0\.0\.1:\d+\s+llamacpp\s+cli-model\s+yes\s+\d\/2/m);
  });

  it('exits 1 with a clear message, quickly, when Redis cannot be reached', async () => {
    const run = await infergate(['queues'], { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(run.code).toBe(1);
    expect(run.out).toBe('');
    expect(run.err).toMatch(/^infergate: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/? within 2000 ms \(connect ECONNREFUSED/);
    // Startup of the TypeScript sources plus the 2 s connect budget; never a retry loop.
    expect(run.ms).toBeLessThan(15_000);
  });

  it('exits 1 for unknown jobs and models, 2 for usage errors', async () => {
    expect(await cli('cancel', 'no-such-job')).toMatchObject({ code: 1, err: "infergate: No queued or running job has the id 'no-such-job'.\n" });
    expect(await cli('jobs', 'no-such-model')).toMatchObject({ code: 1, err: expect.stringContaining("'no-such-model'") });
    expect((await cli('jobs')).code).toBe(2);
    expect((await cli('jobs', MODEL, '--state', 'sleeping')).code).toBe(2);
    expect((await cli('jobs', MODEL, '--limit', 'many')).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('--bogus')).code).toBe(2);
    expect(await cli('--help')).toMatchObject({ code: 0, out: expect.stringMatching(/^usage: infergate <command>/) });
  });
});
