import { z } from 'zod';

/*
 * Every environment variable infergate reads, declared once. Keys are the
 * variable names so a validation issue's path is the name an operator must
 * fix. `.env.example` documents each of them (a test keeps the two in sync).
 */

const seconds = z.coerce.number().positive();
const count = z.coerce.number().int().nonnegative();
const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));
const redisUrl = z
  .string()
  .refine((s) => /^rediss?:\/\//.test(s), 'must start with redis:// or rediss://');
const httpUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');
const portNumber = z.coerce.number().int().min(0).max(65535);

export const commonFields = {
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'only letters, digits, _ and -')
    .default('ig'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long a published registry entry lives without a refresh. */
  HEARTBEAT_TTL_SECONDS: seconds.default(5),
};

export const ingressFields = {
  PORT: portNumber.default(8888),
  HOST: z.string().min(1).default('0.0.0.0'),
  INGRESS_ID: z.string().regex(/^[A-Za-z0-9_.-]+$/).optional(),
  DEFAULT_MODEL: z.string().min(1).optional(),
  /** Longest a request may wait in the queue before a dispatcher starts it. */
  QUEUE_WAIT_TIMEOUT_SECONDS: seconds.default(60),
  /** Requests a model's queue may hold before new ones get 429 at once (0 = no limit). */
  MAX_QUEUED_PER_MODEL: count.default(1000),
  /**
   * Longest silence on a started request's reply path (dispatchers send a
   * heartbeat every HEARTBEAT_INTERVAL_SECONDS) before its dispatcher is
   * presumed dead and the client gets an error.
   */
  RELAY_STALL_TIMEOUT_SECONDS: seconds.default(5),
  /**
   * Longest silence before a response has started. A dispatcher that dies
   * before answering leaves its job locked until BullMQ's stalled-job check
   * gives it to another (JOB_LOCK_SECONDS + STALLED_CHECK_SECONDS), so this
   * must be longer than that.
   */
  ORPHAN_WAIT_SECONDS: seconds.default(30),
  /** `reject`: an unknown model is a 404. `default`: it goes to DEFAULT_MODEL, as single-model llama.cpp does. */
  UNKNOWN_MODEL: z.enum(['reject', 'default']).default('reject'),
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(10 * 1024 * 1024),
  /** How long a stopping ingress lets open responses finish. */
  DRAIN_TIMEOUT_SECONDS: seconds.default(30),
};

export const dispatcherFields = {
  ENGINE_URL: httpUrl,
  ENGINE_KIND: z.enum(['auto', 'llamacpp', 'vllm']).default('auto'),
  /** Engine slots; required for vLLM, which does not expose max_num_seqs. */
  ENGINE_SLOTS: z.coerce.number().int().positive().optional(),
  /** Served model names when the engine's /v1/models should not decide. */
  ENGINE_MODELS: list.optional(),
  /** Extra names this engine answers to, e.g. `gpt-4o-mini,default`. */
  MODEL_ALIASES: list.default([]),
  DISPATCHER_ID: z.string().regex(/^[A-Za-z0-9_.-]+$/).optional(),
  /** Sent to the engine as its bearer token; clients' own credentials never are. */
  ENGINE_API_KEY: z.string().min(1).optional(),
  /** The old proxy's name: timeout of one whole upstream request. */
  BACKEND_TIMEOUT_SECONDS: seconds.default(300),
  /** Longest silence between two chunks of an engine response. */
  IDLE_TIMEOUT_SECONDS: seconds.default(120),
  /** Engines a request may be tried on when they fail before answering. */
  MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  /** How long a stopping dispatcher lets running requests finish. */
  DRAIN_TIMEOUT_SECONDS: seconds.default(30),
  /** The old proxy's name: how often engine state is polled (sub-second allowed). */
  METRICS_CACHE_TTL_SECONDS: seconds.default(1),
  /** The old proxy's thresholds: above them the engine counts as saturated. */
  MAX_ALLOWED_REQUEST_QUEUE: count.default(6),
  MAX_ALLOWED_DEFERRED: count.default(3),
  /** vLLM: stop pulling while the KV cache is fuller than this fraction. */
  KV_CACHE_MAX_USAGE: z.coerce.number().gt(0).max(1).default(0.9),
  /** BullMQ lock and stalled-check tuning; a killed dispatcher's jobs return within about their sum. */
  JOB_LOCK_SECONDS: seconds.default(10),
  STALLED_CHECK_SECONDS: seconds.default(5),
  HEARTBEAT_INTERVAL_SECONDS: seconds.default(1),
  /** Probes and metrics of the dispatcher itself (0 = a free port). */
  STATUS_PORT: portNumber.default(9400),
  STATUS_HOST: z.string().min(1).default('0.0.0.0'),
};

export const stackFields = {
  /** Unset: the stack starts its own redis-server (or a container). */
  REDIS_URL: redisUrl.optional(),
  PORT: portNumber.default(8888),
  /** The stack binds to loopback: it is a local tool, not an exposed service. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** The old proxy's engine list; empty starts two simulated llama.cpp engines. */
  BACKENDS: list.default([]),
  SIM_SLOTS: z.coerce.number().int().positive().default(4),
  /** A local llama.cpp server answers whatever model name it is given; so does the local stack. */
  UNKNOWN_MODEL: z.enum(['reject', 'default']).default('default'),
  OPEN_ACCESS: flag.default(true),
};

export type FieldSet = Record<string, z.ZodType>;
