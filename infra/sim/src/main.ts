/*
 * CLI: one simulated engine in its own process, for the demo stack and
 * benchmarks. Prints a single line with the URL once it accepts connections;
 * tests drive it further through /__sim/*.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '@infergate/shared';
import { ConfigError, type EngineKind, type SimulatorOptions } from './config.js';
import type { TextMode } from './content.js';
import { startSimulator } from './simulator.js';

const USAGE = `usage: npm run sim -- [--kind llamacpp|vllm] [--host H] [--port N] [--slots N] [--ttft-ms N] [--itl-ms N]
  [--tokens N] [--load-ms N] [--model NAME] [--served-model-name NAME]... [--n-ctx N] [--kv-per-request F]
  [--prefill-ms-per-token F] [--slot-prompt-similarity F] [--prompt-cache-tokens N] [--no-prefix-caching]
  [--enable-prompt-tokens-details] [--text readable|counter] [--utf8] [--embeddings] [--no-metrics] [--log-level LEVEL]`;

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'llamacpp' },
    host: { type: 'string' },
    port: { type: 'string' },
    slots: { type: 'string' },
    'ttft-ms': { type: 'string' },
    'itl-ms': { type: 'string' },
    tokens: { type: 'string' },
    'load-ms': { type: 'string' },
    model: { type: 'string' },
    'served-model-name': { type: 'string', multiple: true },
    'n-ctx': { type: 'string' },
    'kv-per-request': { type: 'string' },
    'prefill-ms-per-token': { type: 'string' },
    'slot-prompt-similarity': { type: 'string' },
    'prompt-cache-tokens': { type: 'string' },
    'no-prefix-caching': { type: 'boolean' },
    'enable-prompt-tokens-details': { type: 'boolean' },
    // A person reading the CLI's answers wants words; tests that count tokens ask for 'counter'.
    text: { type: 'string', default: 'readable' },
    utf8: { type: 'boolean' },
    embeddings: { type: 'boolean' },
    'no-metrics': { type: 'boolean' },
    'log-level': { type: 'string', default: 'info' },
    help: { type: 'boolean' },
  },
});

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

// Numbers stay NaN when malformed, so the shared validator reports them by name.
const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const [model, ...extraModelNames] = [values.model, ...(values['served-model-name'] ?? [])].filter((x) => x !== undefined);

const options: SimulatorOptions = {
  kind: values.kind as EngineKind,
  host: values.host,
  port: num(values.port),
  slots: num(values.slots),
  ttftMs: num(values['ttft-ms']),
  itlMs: num(values['itl-ms']),
  tokens: num(values.tokens),
  loadMs: num(values['load-ms']),
  modelId: model,
  extraModelNames: extraModelNames.length > 0 ? extraModelNames : undefined,
  nCtx: num(values['n-ctx']),
  kvPerRequest: num(values['kv-per-request']),
  prefillMsPerToken: num(values['prefill-ms-per-token']),
  slotPromptSimilarity: num(values['slot-prompt-similarity']),
  promptCacheTokens: num(values['prompt-cache-tokens']),
  prefixCaching: values['no-prefix-caching'] ? false : undefined,
  promptTokensDetails: values['enable-prompt-tokens-details'],
  textMode: values.text as TextMode,
  tokenStyle: values.utf8 ? 'utf8' : undefined,
  embeddings: values.embeddings,
  metrics: values['no-metrics'] ? false : undefined,
  exitProcess: true,
};

const logger = createLogger({ name: 'sim', level: values['log-level'], destination: process.stderr });

try {
  const sim = await startSimulator({ ...options, logger });
  // vLLM only listens once loaded; llama.cpp listens at once and answers 503 meanwhile.
  if (sim.kind === 'vllm') await sim.ready;
  process.stdout.write(`${sim.kind} simulator listening on ${sim.url}\n`);
  const stop = (): void => void sim.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n${USAGE}\n`);
  process.exit(2);
}
