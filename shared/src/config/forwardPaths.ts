import { isSafeEnginePath } from '../security/enginePath.js';

/*
 * The engine paths an ingress forwards (POST only), per engine kind, from
 * each engine's route table (shared/engine-apis.md A.5, B.1). Anything else
 * is answered with a 404 before it reaches a queue: engine admin surfaces
 * (llama.cpp POST /slots, POST /props, /lora-adapters, router-mode model
 * loading; vLLM dev-mode routes, LoRA load/unload, profiling) must never be
 * reachable through the gateway.
 */

const OPENAI = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/messages',
  '/v1/rerank',
  '/rerank',
  '/tokenize',
  '/detokenize',
];

export const ENGINE_PATHS = {
  llamacpp: [
    ...OPENAI,
    '/v1/messages/count_tokens',
    '/v1/reranking',
    '/chat/completions',
    '/completions',
    '/completion',
    '/embedding',
    '/embeddings',
    '/infill',
    '/reranking',
    '/apply-template',
  ],
  vllm: [...OPENAI, '/v1/score', '/v2/rerank', '/pooling', '/classify', '/score'],
} as const satisfies Record<string, readonly string[]>;

type Group = keyof typeof ENGINE_PATHS | 'defaults';

const GROUPS: Readonly<Record<Group, readonly string[]>> = {
  ...ENGINE_PATHS,
  defaults: [...ENGINE_PATHS.llamacpp, ...ENGINE_PATHS.vllm],
};

/** The ingress's own routes (probes, models, metrics, the operator surface); forwarding one would shadow it. */
const OWN_ROUTES: ReadonlySet<string> = new Set(['/health', '/livez', '/readyz', '/v1/models', '/metrics', '/admin']);
const isOwnRoute = (path: string) => OWN_ROUTES.has(path) || path.startsWith('/admin/');

/** Static segments, or Fastify's `:param` and a trailing `*`, for operators who forward more. */
const ROUTE_SYNTAX = /^(\/(?:[A-Za-z0-9_.~-]+|:[A-Za-z0-9_]+))+(\/\*)?$/;

/**
 * Resolves FORWARD_PATHS: engine groups (`llamacpp`, `vllm`, `defaults`)
 * and extra paths, so `FORWARD_PATHS=vllm` narrows a vLLM-only fleet and
 * `FORWARD_PATHS=defaults,/v1/audio/speech` extends the built-in list. The
 * config schema reports every problem at start-up.
 */
export function resolveForwardPaths(entries: readonly string[]): { readonly paths: string[]; readonly problems: string[] } {
  const paths = new Set<string>();
  const problems: string[] = [];
  for (const entry of entries) {
    if (Object.hasOwn(GROUPS, entry)) {
      for (const p of GROUPS[entry as Group]) paths.add(p);
    } else if (!entry.startsWith('/')) {
      problems.push(`'${entry}' is neither a path nor one of ${Object.keys(GROUPS).join(', ')}`);
    } else if (!isSafeEnginePath(entry) || !ROUTE_SYNTAX.test(entry)) {
      problems.push(`'${entry}' is not a plain path (letters, digits, _ . ~ -, :param, a trailing /*)`);
    } else if (isOwnRoute(entry)) {
      problems.push(`'${entry}' is a route of the ingress itself`);
    } else {
      paths.add(entry);
    }
  }
  return { paths: [...paths], problems };
}
