/*
 * Simulator settings: defaults per engine kind and one validator shared by
 * the embedding API, `POST /__sim/config` and the CLI, so a bad value is
 * rejected the same way wherever it comes from.
 */
import type { TextMode, TokenStyle } from './content.js';

export type EngineKind = 'llamacpp' | 'vllm';
/** 'exit': the whole engine dies. 'reset': only that request's connection is cut. */
export type DieMode = 'exit' | 'reset';

export interface SimulatorConfig {
  readonly kind: EngineKind;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Time before the engine is ready: llama.cpp answers 503, vLLM refuses connections. */
  readonly loadMs: number;
  /** With dieMode 'exit', end the whole process rather than only this simulator (the CLI sets it). */
  readonly exitProcess: boolean;
  /** llama.cpp slots (`-np`) or vLLM max_num_seqs. */
  slots: number;
  /** The model name responses carry; also vLLM's first `--served-model-name`. */
  modelId: string;
  /** Further vLLM served model names; llama.cpp lists them as aliases. */
  extraModelNames: string[];
  ttftMs: number;
  /** Delay between tokens. */
  itlMs: number;
  /** Prefill time per prompt token not found in the prompt cache, on top of `ttftMs`. */
  prefillMsPerToken: number;
  /** llama.cpp `--slot-prompt-similarity`: the share of a prompt a slot must hold to be picked for it; 0 picks least recently used. */
  slotPromptSimilarity: number;
  /** llama.cpp host prompt cache (`--cache-ram`), in tokens; 0 turns it off. */
  promptCacheTokens: number;
  /** vLLM automatic prefix caching (`--enable-prefix-caching`, on by default in V1). */
  prefixCaching: boolean;
  /** vLLM `--enable-prompt-tokens-details`: usage carries `prompt_tokens_details.cached_tokens` when some were. */
  promptTokensDetails: boolean;
  /** Natural output length: the model emits EOS after this many tokens unless a request caps it lower. */
  tokens: number;
  /** 'counter' (` t0 t1 …`, what tests check) or 'readable' (short stories, what the CLI and `npm start` show). */
  textMode: TextMode;
  /** Counter text only: 'utf8' adds multi-byte characters. */
  tokenStyle: TokenStyle;
  /** llama.cpp per-slot context; vLLM max_model_len. */
  nCtx: number;
  /** vLLM KV-cache fraction each running request adds to kv_cache_usage_perc. */
  kvPerRequest: number;
  /** Pins vLLM's kv_cache_usage_perc; null computes it from kvPerRequest. */
  kvUsage: number | null;
  /** vLLM's vllm:num_preemptions counter. */
  preemptions: number;
  /** llama.cpp `--metrics`; without it /metrics answers 501. */
  metrics: boolean;
  /** llama.cpp `--embeddings` (501 without); vLLM registers /v1/embeddings only with it. */
  embeddings: boolean;
  /** Die once a request has produced this many tokens. */
  dieAfterTokens: number | null;
  dieMode: DieMode;
  /** Answer inference requests with this status and an engine-style error body. */
  failStatus: number | null;
  /** Accept inference requests but never answer them. */
  hangBeforeHeaders: boolean;
  /** Extra delay before an inference request is looked at. */
  slowStartMs: number;
  /** Faults act on the next K inference requests only; null means on all of them. */
  faultCount: number | null;
}

export type SimulatorPatch = Partial<Omit<SimulatorConfig, StartupKey>>;
export type SimulatorOptions = Partial<SimulatorConfig> & { readonly kind: EngineKind };

type StartupKey = 'kind' | 'host' | 'port' | 'loadMs' | 'exitProcess';
const STARTUP_KEYS: ReadonlySet<string> = new Set<StartupKey>(['kind', 'host', 'port', 'loadMs', 'exitProcess']);
const FAULT_KEYS: ReadonlySet<string> = new Set(['dieAfterTokens', 'dieMode', 'failStatus', 'hangBeforeHeaders', 'slowStartMs']);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Check = readonly [test: (v: unknown) => boolean, expected: string];

const int = (min: number, max = Number.MAX_SAFE_INTEGER): Check => [
  (v) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max,
  `an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}`,
];
const fraction: Check = [(v) => typeof v === 'number' && v >= 0 && v <= 1, 'a number from 0 to 1'];
const nonNegative: Check = [(v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a number from 0'];
const bool: Check = [(v) => typeof v === 'boolean', 'true or false'];
const text: Check = [(v) => typeof v === 'string' && v.length > 0, 'a non-empty string'];
const oneOf = (...values: string[]): Check => [(v) => values.includes(v as string), values.map((x) => `'${x}'`).join(' or ')];
const nullable = ([test, expected]: Check): Check => [(v) => v === null || test(v), `${expected}, or null`];
const names: Check = [(v) => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0), 'a list of names'];

const CHECKS: Record<keyof SimulatorConfig, Check> = {
  kind: oneOf('llamacpp', 'vllm'),
  host: text,
  port: int(0, 65535),
  loadMs: int(0),
  exitProcess: bool,
  slots: int(1),
  modelId: text,
  extraModelNames: names,
  ttftMs: int(0),
  itlMs: int(0),
  prefillMsPerToken: nonNegative,
  slotPromptSimilarity: fraction,
  promptCacheTokens: int(0),
  prefixCaching: bool,
  promptTokensDetails: bool,
  tokens: int(0),
  textMode: oneOf('counter', 'readable'),
  tokenStyle: oneOf('ascii', 'utf8'),
  nCtx: int(1),
  kvPerRequest: fraction,
  kvUsage: nullable(fraction),
  preemptions: int(0),
  metrics: bool,
  embeddings: bool,
  dieAfterTokens: nullable(int(0)),
  dieMode: oneOf('exit', 'reset'),
  failStatus: nullable(int(100, 599)),
  hangBeforeHeaders: bool,
  slowStartMs: int(0),
  faultCount: nullable(int(0)),
};

function defaults(kind: EngineKind): SimulatorConfig {
  return {
    kind,
    host: '127.0.0.1',
    port: 0,
    loadMs: 0,
    exitProcess: false,
    slots: 4,
    modelId: kind === 'llamacpp' ? 'stories260K.gguf' : 'sim-model',
    extraModelNames: [],
    ttftMs: 20,
    itlMs: 5,
    // A small model on a CPU prefills a few thousand tokens a second.
    prefillMsPerToken: 0.3,
    slotPromptSimilarity: 0.1,
    promptCacheTokens: 32_768,
    prefixCaching: true,
    promptTokensDetails: false,
    tokens: 16,
    // Tests rebuild counter text exactly; the CLI asks for readable text.
    textMode: 'counter',
    tokenStyle: 'ascii',
    nCtx: 2048,
    kvPerRequest: 0.05,
    kvUsage: null,
    preemptions: 0,
    metrics: true,
    embeddings: false,
    dieAfterTokens: null,
    dieMode: 'reset',
    failStatus: null,
    hangBeforeHeaders: false,
    slowStartMs: 0,
    faultCount: null,
  };
}

function validate(input: unknown, runtime: boolean): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError('settings must be a JSON object');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const check = (CHECKS as Record<string, Check | undefined>)[key];
    if (!check) throw new ConfigError(`unknown setting '${key}'`);
    if (runtime && STARTUP_KEYS.has(key)) throw new ConfigError(`'${key}' can only be set at startup`);
    if (!check[0](value)) throw new ConfigError(`'${key}' must be ${check[1]}`);
    out[key] = value;
  }
  return out;
}

/** Full settings from start options; unknown or invalid values throw ConfigError. */
export function resolveConfig(options: SimulatorOptions): SimulatorConfig {
  const { kind } = validate({ kind: options.kind }, false) as { kind: EngineKind };
  return { ...defaults(kind), ...validate(options, false) };
}

/** Checks a runtime change; startup-only keys, unknown keys and bad values throw ConfigError. */
export function parsePatch(input: unknown): SimulatorPatch {
  const patch = validate(input, true) as SimulatorPatch;
  // Setting a fault without a count means "from now on", not "for whatever count is left".
  if (Object.keys(patch).some((k) => FAULT_KEYS.has(k)) && !('faultCount' in patch)) patch.faultCount = null;
  return patch;
}
