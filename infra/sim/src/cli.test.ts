import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { expectedTokens } from './content.js';
import { call, fetchRaw } from './testing/client.js';
import { contentOf, eventsOf } from './testing/replay.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const children: ChildProcess[] = [];

function startCli(args: string[]) {
  const child = spawn(`${ROOT}node_modules/.bin/tsx`, ['--conditions=development', 'infra/sim/src/main.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = new Promise<string>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!);
    });
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, line, exit, output: () => ({ stdout, stderr }) };
}

const urlOf = (line: string): string => /(http:\/\/\S+)$/.exec(line)![1]!;

// tsx runs the simulator in a child process of its own and passes SIGTERM on; a SIGKILL would orphan that child.
afterEach(async () => {
  await Promise.all(
    children.splice(0).map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGTERM');
      await gone;
    }),
  );
});

describe('npm run sim', () => {
  it('prints one line with the URL, serves, and exits cleanly on SIGTERM', async () => {
    const cli = startCli(['--kind', 'llamacpp', '--port', '0', '--slots', '3', '--tokens', '4', '--model', 'm.gguf', '--text', 'counter']);
    const line = await cli.line;
    expect(line).toMatch(/^llamacpp simulator listening on http:\/\/127\.0\.0\.1:\d+$/);
    const props = JSON.parse((await fetchRaw(urlOf(line), '/props')).body);
    expect([props.total_slots, props.model_alias]).toEqual([3, 'm.gguf']);
    const reply = JSON.parse((await fetchRaw(urlOf(line), '/v1/chat/completions', { body: { messages: [] } })).body);
    expect(reply.choices[0].message.content).toBe(expectedTokens(4));
    cli.child.kill('SIGTERM');
    expect(await cli.exit).toBe(0);
    expect(cli.output().stdout.trim().split('\n')).toHaveLength(1);
  });

  it("announces vLLM only once loaded, and a dieMode 'exit' fault ends the process", async () => {
    const cli = startCli(['--kind', 'vllm', '--load-ms', '200', '--served-model-name', 'a', '--served-model-name', 'b', '--text', 'counter']);
    const url = urlOf(await cli.line);
    expect((await fetchRaw(url, '/health')).status).toBe(200);
    const models = JSON.parse((await fetchRaw(url, '/v1/models')).body);
    expect(models.data.map((m: { id: string }) => m.id)).toEqual(['a', 'b']);
    await fetchRaw(url, '/__sim/config', { body: { dieAfterTokens: 2, dieMode: 'exit' } });
    const victim = call(url, '/v1/chat/completions', { body: { messages: [], stream: true } });
    await expect(victim.done).rejects.toThrow();
    expect(eventsOf(victim.text).map(contentOf).join('')).toBe(expectedTokens(2));
    expect(await cli.exit).toBe(1);
  });

  it('answers in readable sentences unless asked for counter text', async () => {
    const cli = startCli(['--tokens', '12']);
    const url = urlOf(await cli.line);
    const ask = async (content: string) =>
      JSON.parse((await fetchRaw(url, '/v1/chat/completions', { body: { messages: [{ role: 'user', content }] } })).body).choices[0].message
        .content as string;
    const story = await ask('Tell me a story');
    expect(story).toMatch(/^Once upon a time, there was a [a-z]+ [a-z]+ named [A-Z][a-z]+\. [A-Z]/);
    expect(story).toMatch(/[.!"]$/);
    expect(story).not.toMatch(/\bt\d+\b/);
    expect(await ask('Tell me a story')).toBe(story);
    expect(await ask('Tell me another story')).not.toBe(story);
  });

  it('takes the prompt-cache settings as flags', async () => {
    const cli = startCli(['--kind', 'vllm', '--prefill-ms-per-token', '0.25', '--no-prefix-caching', '--enable-prompt-tokens-details']);
    const url = urlOf(await cli.line);
    expect(JSON.parse((await fetchRaw(url, '/__sim/config')).body)).toMatchObject({
      prefillMsPerToken: 0.25,
      prefixCaching: false,
      promptTokensDetails: true,
    });
    const llama = startCli(['--slot-prompt-similarity', '0.5', '--prompt-cache-tokens', '100']);
    const config = JSON.parse((await fetchRaw(urlOf(await llama.line), '/__sim/config')).body);
    expect(config).toMatchObject({ kind: 'llamacpp', slotPromptSimilarity: 0.5, promptCacheTokens: 100, prefillMsPerToken: 0.3 });
  });

  it('rejects a bad setting with its name and exit code 2', async () => {
    const cli = startCli(['--slots', 'zero']);
    expect(await cli.exit).toBe(2);
    expect(cli.output().stderr).toContain("'slots' must be an integer from 1");
  });
});
