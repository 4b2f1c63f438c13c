/*
 * llama-server's route table. The HTTP server is up from the start and
 * answers every path with 503 until the model has loaded; an unknown path or
 * a wrong method is the HTTP layer's 404.
 */
import type { IncomingMessage } from 'node:http';
import type { Personality, SimEnv } from '../env.js';
import { readBody, send, type Reply } from '../http.js';
import { alnumId, unixSeconds } from '../ids.js';
import { serveInference, type InferenceRoute } from '../inference.js';
import { isParsed, parseBody } from './body.js';
import { chatRoute, completionRoute, embeddingRoute, nativeRoute } from './completions.js';
import { baseHeaders, LOADING, NOT_FOUND, notSupported } from './http.js';
import { HEALTHY, models, props, slots } from './info.js';
import { LlamaMetrics } from './metrics.js';
import { applyTemplate, chatInputTokens, detokenize, tokenize } from './text.js';
import { WEB_UI } from './webui.js';

const NO_METRICS = notSupported('This server does not support metrics endpoint. Start it with `--metrics`');
const NO_EMBEDDINGS = notSupported('This server does not support embeddings. Start it with `--embeddings`');
const NO_PROPS_CHANGE = notSupported('This server does not support changing global properties. Start it with `--props`');
const NO_SLOT_ACTIONS = notSupported('This server does not support slots action. Start it with `--slot-save-path`');

function preflight(req: IncomingMessage): Reply {
  return {
    status: 200,
    headers: [
      'Access-Control-Allow-Origin', req.headers.origin ?? '',
      'Access-Control-Allow-Credentials', 'true',
      'Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS',
      'Access-Control-Allow-Headers', '*',
      'Content-Type', 'text/html',
      'Keep-Alive', 'timeout=5, max=100',
      'Content-Length', '0',
    ],
    body: '',
  };
}

export function createLlamacpp(env: SimEnv): Personality {
  const created = unixSeconds(env.startedAtMs);
  const mediaMarker = `<__media_${alnumId()}__>`;
  const metrics = new LlamaMetrics();

  const gets: Record<string, (query: URLSearchParams) => Reply> = {
    '/health': () => HEALTHY,
    '/v1/health': () => HEALTHY,
    '/metrics': () => (env.config.metrics ? metrics.render(env) : NO_METRICS),
    '/slots': (query) => slots(env, query),
    '/props': () => props(env, mediaMarker),
    '/models': () => models(env, created),
    '/v1/models': () => models(env, created),
    ...(env.config.webui ? WEB_UI : {}),
  };
  const chat = chatRoute(env);
  const native = nativeRoute(env);
  const generation: Record<string, InferenceRoute> = {
    '/v1/chat/completions': chat,
    '/chat/completions': chat,
    '/v1/completions': completionRoute(env),
    '/completion': native,
    '/completions': native,
  };
  const nativeEmbeddings = embeddingRoute(env, false);
  const embeddings: Record<string, InferenceRoute> = {
    '/v1/embeddings': embeddingRoute(env, true),
    '/embedding': nativeEmbeddings,
    '/embeddings': nativeEmbeddings,
  };
  const utilities: Record<string, (body: unknown) => Reply> = {
    '/tokenize': (body) => tokenize(env, body),
    '/detokenize': (body) => detokenize(env, body),
    '/apply-template': applyTemplate,
    '/chat/completions/input_tokens': chatInputTokens,
    '/v1/chat/completions/input_tokens': chatInputTokens,
  };

  return {
    handle(req, res, path, query) {
      baseHeaders(req, res);
      env.stats.path(path);
      if (!env.ready) return send(res, LOADING);
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      if (method === 'OPTIONS') return send(res, preflight(req));
      if (method === 'GET') return send(res, gets[path]?.(query) ?? NOT_FOUND);
      if (method !== 'POST') return send(res, NOT_FOUND);

      const inference = generation[path] ?? embeddings[path];
      if (inference) {
        if (embeddings[path] && !env.config.embeddings) return send(res, NO_EMBEDDINGS);
        return void serveInference(env, req, res, inference);
      }
      if (path === '/props') return send(res, NO_PROPS_CHANGE);
      if (path.startsWith('/slots/')) return send(res, NO_SLOT_ACTIONS);
      const utility = utilities[path];
      if (!utility) return send(res, NOT_FOUND);
      readBody(req).then(
        (raw) => {
          const parsed = parseBody(raw);
          send(res, isParsed(parsed) ? utility(parsed.value) : parsed);
        },
        () => undefined,
      );
    },
  };
}
