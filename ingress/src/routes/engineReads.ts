import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ENGINE_READ_PATHS, ENGINE_UI_HELPER_PATHS, isGatewayError, isWebUiAsset } from '@infergate/shared';
import type { IngressContext } from '../context.js';
import { relayEngineRead } from '../engineReads/engineRead.js';
import { answerUnknownPath } from '../frameworkErrors.js';
import { registerForwardTargetGuard } from '../limits/index.js';

/** `?model=` as llama.cpp's router mode reads it, or the default model. */
function requestedModel(request: FastifyRequest): string | undefined {
  const model = (request.query as Record<string, unknown> | undefined)?.model;
  return typeof model === 'string' && model !== '' ? model : undefined;
}

/**
 * The read-only engine routes of the client API (GET /props, /slots,
 * /models, vLLM /version…), behind its credentials: answered by an engine
 * of the model named by `?model=` (or the default model), outside the queue
 * and the capacity gate. The web UI's fetch helpers join them only with
 * ENGINE_UI_HELPERS.
 */
export async function engineReadRoutes(app: FastifyInstance, ctx: IngressContext): Promise<void> {
  const read = async (request: FastifyRequest, reply: FastifyReply) => {
    relayEngineRead(ctx, request, reply, ctx.registry.resolve(requestedModel(request)));
  };
  for (const path of ENGINE_READ_PATHS) app.get(path, read);
  if (!ctx.config.ENGINE_UI_HELPERS) return;
  for (const path of ENGINE_UI_HELPER_PATHS) app.route({ method: ['GET', 'POST'], url: path, handler: read });
}

/**
 * The engines' web UI (WEB_UI): the page at `/` and its files, in a plugin
 * without credentials, since a browser loads them without an API key; the
 * UI's own API calls go to the client API and need one. Any dispatcher can
 * serve it unless a model is named or is the only one.
 */
export async function webUiRoutes(app: FastifyInstance, ctx: IngressContext): Promise<void> {
  if (!ctx.config.WEB_UI) return;
  registerForwardTargetGuard(app);
  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!isWebUiAsset(request.url)) return answerUnknownPath(request, reply);
    relayEngineRead(ctx, request, reply, uiModel(ctx, request));
  };
  app.get('/', page);
  // One segment: the UI's files sit beside its page, and no route of the ingress is shadowed.
  app.get('/:file', page);
}

function uiModel(ctx: IngressContext, request: FastifyRequest): string | undefined {
  try {
    return ctx.registry.resolve(requestedModel(request));
  } catch (err) {
    // Several models and none named: the UI is the same on every engine, so any dispatcher will do.
    if (isGatewayError(err) && err.code === 'model_required') return undefined;
    throw err;
  }
}
