import { isSafeEnginePath } from '../security/enginePath.js';
import { isDeniedEnginePost } from '../security/engineRoutes.js';

/*
 * The engine paths an ingress forwards (POST only). By default the groups
 * below, from each engine's route table: llama.cpp's `tools/server/server.cpp`
 * (the routes registered on its HTTP server) and vLLM's
 * `vllm/entrypoints/openai/api_server.py` (`build_app`) and the routers it
 * includes. With `any`, every path but the engine admin actions
 * (shared/src/security/engineRoutes.ts), so a route a new engine release adds
 * works without a gateway release. Admin actions are in no group and are
 * refused as extra paths too.
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
    '/v1/chat/completions/input_tokens',
    '/v1/responses/input_tokens',
    '/v1/audio/transcriptions',
    '/chat/completions',
    '/chat/completions/input_tokens',
    '/responses',
    '/responses/input_tokens',
    '/audio/transcriptions',
    '/completions',
    '/completion',
    '/embedding',
    '/embeddings',
    '/infill',
    '/reranking',
    '/apply-template',
  ],
  vllm: [
    ...OPENAI,
    '/v1/score',
    '/v2/rerank',
    '/pooling',
    '/classify',
    '/score',
    '/v1/audio/transcriptions',
    '/v1/audio/translations',
    '/v1/responses/:id/cancel',
  ],
} as const satisfies Record<string, readonly string[]>;

/** The forwarded path that stands for `any`: every POST path the deny-list lets through. */
export const ANY_PATH = '/*';

type Group = keyof typeof ENGINE_PATHS | 'defaults' | 'any';

const GROUPS: Readonly<Record<Group, readonly string[]>> = {
  ...ENGINE_PATHS,
  defaults: [...ENGINE_PATHS.llamacpp, ...ENGINE_PATHS.vllm],
  any: [ANY_PATH],
};

/** The ingress's own routes (probes, models, metrics, the operator surface); forwarding one would shadow it. */
const OWN_ROUTES: ReadonlySet<string> = new Set(['/health', '/livez', '/readyz', '/v1/models', '/metrics', '/admin']);
export const isIngressRoute = (path: string) => OWN_ROUTES.has(path) || path.startsWith('/admin/');

/** Static segments, or Fastify's `:param` and a trailing `*`, for operators who forward more. */
const ROUTE_SYNTAX = /^(\/(?:[A-Za-z0-9_.~-]+|:[A-Za-z0-9_]+))+(\/\*)?$/;

/**
 * Resolves FORWARD_PATHS: `any`, engine groups (`llamacpp`, `vllm`,
 * `defaults`) and extra paths, so `FORWARD_PATHS=vllm` narrows a vLLM-only fleet and
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
    } else if (isIngressRoute(entry)) {
      problems.push(`'${entry}' is a route of the ingress itself`);
    } else if (isDeniedEnginePost(entry, { uiHelpers: true })) {
      problems.push(`'${entry}' is an engine admin action, never forwarded`);
    } else {
      paths.add(entry);
    }
  }
  return { paths: [...paths], problems };
}
