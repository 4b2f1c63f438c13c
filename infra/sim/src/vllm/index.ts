/*
 * vLLM's route table. There is no loading phase here: the simulator does not
 * listen at all until the model is "loaded", like vLLM, whose socket is bound
 * but not listening during startup.
 */
import type { Personality, SimEnv } from '../env.js';
import { readBody, send, type Reply } from '../http.js';
import { unixSeconds } from '../ids.js';
import { serveInference, type InferenceRoute } from '../inference.js';
import { chatRoute, completionRoute, embeddingRoute, isReply, parseRequest } from './completions.js';
import { EMPTY_OK, METHOD_NOT_ALLOWED, ROUTE_NOT_FOUND } from './http.js';
import { detokenize, models, tokenize } from './info.js';
import { vllmMetrics } from './metrics.js';

export function createVllm(env: SimEnv): Personality {
  const created = unixSeconds(env.startedAtMs);
  const gets: Record<string, () => Reply> = {
    '/health': () => EMPTY_OK,
    '/ping': () => EMPTY_OK,
    '/metrics': () => vllmMetrics(env),
    '/v1/models': () => models(env, created),
  };
  const embeddings = embeddingRoute(env);
  const generation: Record<string, InferenceRoute> = {
    '/v1/chat/completions': chatRoute(env),
    '/v1/completions': completionRoute(env),
  };
  const utilities: Record<string, (body: Record<string, unknown>) => Reply> = {
    '/tokenize': (body) => tokenize(env, body),
    '/detokenize': (body) => detokenize(env, body),
  };
  const isPostRoute = (path: string): boolean =>
    path === '/ping' || path in generation || path in utilities || (path === '/v1/embeddings' && env.config.embeddings);

  return {
    handle(req, res, path) {
      res.setHeader('server', 'uvicorn');
      env.stats.path(path);
      const get = gets[path];
      if (req.method === 'GET' && get) return send(res, get());
      if (req.method === 'POST') {
        if (path === '/ping') return send(res, EMPTY_OK);
        // Without an embedding model vLLM never registers the route.
        const inference = generation[path] ?? (path === '/v1/embeddings' && env.config.embeddings ? embeddings : undefined);
        if (inference) return void serveInference(env, req, res, inference);
        const utility = utilities[path];
        if (utility) {
          readBody(req).then(
            (raw) => {
              const body = parseRequest(raw);
              send(res, isReply(body) ? body : utility(body));
            },
            () => undefined,
          );
          return;
        }
      }
      send(res, get || isPostRoute(path) ? METHOD_NOT_ALLOWED : ROUTE_NOT_FOUND);
    },
  };
}
