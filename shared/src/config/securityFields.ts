import { createSecretKey } from 'node:crypto';
import { z } from 'zod';
import { NO_CORS, resolveCorsOrigins } from './corsOrigins.js';
import { resolveForwardPaths } from './forwardPaths.js';
import { parseApiKeyList } from '../security/apiKeys.js';
import { jwksProblems } from '../security/jwks.js';
import { PRIORITY_CLASSES, type PriorityClass } from '../security/priority.js';

/*
 * Security settings, kept apart from fields.ts so the areas evolve
 * independently. Keys are the environment variable names. Every secret has a
 * NAME_FILE form (see env.ts): API_KEYS_FILE, JWT_SECRET_FILE, JWT_JWKS_FILE,
 * KEY_POLICIES_FILE.
 */

const count = z.coerce.number().int().nonnegative();
const seconds = z.coerce.number().positive();
const bytes = (min: number) => z.coerce.number().int().min(min);
const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));

/** JSON text validated against `schema`; a parse error names no content (it may be secret). */
function json<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

/** Hashed at load time, so the configuration never holds a plaintext key. */
const apiKeys = z.string().transform((s, ctx) => {
  const { entries, problems } = parseApiKeyList(s);
  for (const message of problems) ctx.addIssue({ code: 'custom', message });
  return entries;
});

const keyPolicy = z.strictObject({
  /** Requests per minute (0 = unlimited). */
  rpm: count.optional(),
  /** Requests running or queued at once (0 = unlimited). */
  concurrent: count.optional(),
  /** Tokens (prompt + completion) per minute, charged when a request ends (0 = unlimited). */
  tpm: count.optional(),
  /** Tokens per UTC day (0 = unlimited). */
  daily_tokens: count.optional(),
  /** Tokens per UTC calendar month (0 = unlimited). */
  monthly_tokens: count.optional(),
  priority: z.enum(Object.keys(PRIORITY_CLASSES) as [PriorityClass, ...PriorityClass[]]).optional(),
  /** Share of its priority class's tokens when the queue is contended, relative to other keys (default 1). */
  weight: z.number().positive().max(1_000).optional(),
});

const jwks = z
  .object({
    keys: z.array(z.looseObject({ kty: z.string() })).min(1, 'must hold at least one key'),
  })
  .superRefine(({ keys }, ctx) => {
    for (const message of jwksProblems(keys)) ctx.addIssue({ code: 'custom', message });
  });

export const securityIngressFields = {
  /** Client API keys: `key` or `name:key` entries, separated by commas or newlines. */
  API_KEYS: apiKeys.default([]),
  /** Lets a production ingress start with neither API keys nor JWT configured. */
  ALLOW_OPEN_ACCESS: z.stringbool().default(false),
  /** HS256 secret for JWT bearer tokens; kept as a key object, not as text. */
  JWT_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters (e.g. `openssl rand -hex 32`)')
    .transform((s) => createSecretKey(Buffer.from(s, 'utf8')))
    .optional(),
  /** JSON Web Key Set (RS256, ES256 public keys) for JWT bearer tokens; usually JWT_JWKS_FILE. */
  JWT_JWKS: json(jwks).optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  JWT_CLOCK_SKEW_SECONDS: count.default(30),
  /** The claim naming a token's tenant, which KEY_POLICIES and the limits key on. */
  JWT_TENANT_CLAIM: z.string().min(1).default('sub'),
  /** Defaults for every key and tenant without its own policy (0 = unlimited). */
  KEY_RATE_LIMIT_RPM: count.default(0),
  KEY_MAX_CONCURRENT: count.default(0),
  /** `{ "<key id or tenant>": { "rpm": 60, "concurrent": 4, "tpm": 20000, "daily_tokens": 1000000, "priority": "high" } }`. */
  KEY_POLICIES: json(z.record(z.string().min(1), keyPolicy)).default({}),
  /** How long a concurrency slot of a vanished ingress stays taken; live ones renew theirs. */
  KEY_LEASE_SECONDS: seconds.default(30),
  /**
   * Forwarded POST paths: `any` (every path but the engine admin actions),
   * engine groups (`llamacpp`, `vllm`, `defaults` = both) and extra paths.
   */
  FORWARD_PATHS: list.default(['defaults']).transform((entries, ctx) => {
    const { paths, problems } = resolveForwardPaths(entries);
    for (const message of problems) ctx.addIssue({ code: 'custom', message });
    return paths;
  }),
  /**
   * Serve the engines' web UI (llama-server's `/` and its files) without
   * credentials: a browser's page load carries no API key.
   */
  WEB_UI: z.stringbool().default(false),
  /** Forward the web UI's server-side fetch helpers (llama-server /cors-proxy, /tools): an SSRF surface. */
  ENGINE_UI_HELPERS: z.stringbool().default(false),
  /** Origins whose pages may call the client API (llama-server's `--cors-origins`: a list, `*`, `localhost`). */
  CORS_ORIGINS: list.transform((entries, ctx) => {
    const { origins, problems } = resolveCorsOrigins(entries);
    for (const message of problems) ctx.addIssue({ code: 'custom', message });
    return origins;
  }).default(NO_CORS),
  /** Forward llama.cpp's X-Conversation-Id (resumable streams that outlive a disconnect). */
  FORWARD_CONVERSATION_ID: z.stringbool().default(false),
  /** Request line plus headers (431 beyond). */
  MAX_HEADER_BYTES: bytes(1024).default(16 * 1024),
  /** Request target, path and query (414 beyond). */
  MAX_URL_LENGTH: bytes(64).default(4096),
  /** Longest a client may take to send its headers, and its whole request (408, then close). */
  HEADERS_TIMEOUT_SECONDS: seconds.default(10),
  REQUEST_TIMEOUT_SECONDS: seconds.default(30),
  /** Open client connections per ingress process; more are closed at once (0 = unlimited). */
  MAX_CONNECTIONS: count.default(0),
} satisfies Record<string, z.ZodType>;

export const securityDispatcherFields = {} satisfies Record<string, z.ZodType>;
