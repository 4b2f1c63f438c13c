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
/** `host:port,host:port`; an IPv6 host goes in brackets, `[::1]:6379`. */
const endpoints = list.pipe(
  z
    .array(
      z.string().transform((s, ctx) => {
        const m = /^(?:\[([^\]]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(s);
        const port = Number(m?.[3]);
        if (!m || port < 1 || port > 65535) {
          ctx.addIssue({ code: 'custom', message: `'${s}' is not host:port` });
          return z.NEVER;
        }
        return { host: (m[1] ?? m[2])!, port };
      }),
    )
    .min(1, 'must list at least one host:port'),
);

export const commonFields = {
  /** One Redis server; also the credentials (and Sentinel database) of the other forms unless set below. */
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
  /** Sentinel form: the sentinels to ask for the current master of REDIS_SENTINEL_MASTER. */
  REDIS_SENTINELS: endpoints.optional(),
  REDIS_SENTINEL_MASTER: z.string().min(1).optional(),
  REDIS_SENTINEL_USERNAME: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  /** Cluster form: seed nodes; the rest of the cluster is discovered from them. */
  REDIS_CLUSTER_NODES: endpoints.optional(),
  /** Data-node credentials; they win over those in REDIS_URL. */
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** TLS to every Redis node (and sentinel); `rediss://` in REDIS_URL does the same. */
  REDIS_TLS: flag.default(false),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'only letters, digits, _ and -')
    .default('ig'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long a published registry entry lives without a refresh. */
  HEARTBEAT_TTL_SECONDS: seconds.default(5),
};

type RedisFormFields = {
  readonly REDIS_SENTINELS?: unknown;
  readonly REDIS_SENTINEL_MASTER?: unknown;
  readonly REDIS_SENTINEL_USERNAME?: unknown;
  readonly REDIS_SENTINEL_PASSWORD?: unknown;
  readonly REDIS_CLUSTER_NODES?: unknown;
};

/**
 * The Redis variables choose one deployment form: REDIS_URL (one server),
 * REDIS_SENTINELS + REDIS_SENTINEL_MASTER, or REDIS_CLUSTER_NODES. A mix is
 * refused by name rather than one form silently winning.
 */
export function checkRedisForm(config: RedisFormFields, ctx: z.RefinementCtx): void {
  const problem = (variable: keyof RedisFormFields, message: string) =>
    ctx.addIssue({ code: 'custom', path: [variable], message });
  if (config.REDIS_SENTINELS !== undefined && config.REDIS_CLUSTER_NODES !== undefined) {
    problem('REDIS_CLUSTER_NODES', 'cannot be combined with REDIS_SENTINELS: choose the Cluster form or the Sentinel form');
  }
  if (config.REDIS_SENTINELS !== undefined && config.REDIS_SENTINEL_MASTER === undefined) {
    problem('REDIS_SENTINEL_MASTER', 'is required with REDIS_SENTINELS');
  }
  if (config.REDIS_SENTINELS === undefined) {
    for (const variable of ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD'] as const) {
      if (config[variable] !== undefined) problem(variable, 'only applies with REDIS_SENTINELS');
    }
  }
}

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
   * gives it to another (JOB_LOCK_SECONDS + 2 × STALLED_CHECK_SECONDS), so this
   * must be longer than that.
   */
  ORPHAN_WAIT_SECONDS: seconds.default(30),
  /**
   * Longest wait for a dispatcher to start answering an engine read (GET
   * /props, /slots, the web UI) before another one is asked (then 504).
   */
  ENGINE_READ_TIMEOUT_SECONDS: seconds.default(3),
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
  JOB_LOCK_SECONDS: seconds.default(8),
  STALLED_CHECK_SECONDS: seconds.default(3),
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
