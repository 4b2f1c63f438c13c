import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorConfig } from './config.js';
import type { PromptCache } from './prompt-cache.js';
import type { SlotPool } from './slots.js';
import type { EngineTotals, Stats } from './stats.js';
import type { Vocab } from './tokenizer.js';

/** The state one simulator's handlers share. */
export interface SimEnv {
  /** Live settings: handlers read them per request or per token, so changes apply at once. */
  readonly config: SimulatorConfig;
  readonly pool: SlotPool;
  /** The engine's prompt cache; a restart (a new simulator) starts it empty. */
  readonly cache: PromptCache;
  readonly stats: Stats;
  readonly totals: EngineTotals;
  readonly vocab: Vocab;
  readonly startedAtMs: number;
  /** The model has loaded. */
  readonly ready: boolean;
  nextTaskId(): number;
  /** Registers a running request's stop function for shutdown; returns its removal. */
  track(stop: () => void): () => void;
  /** The engine dies with every connection (the 'exit' fault). */
  die(): void;
}

/** One engine's HTTP surface. */
export interface Personality {
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): void;
}
