import type { FastifyInstance } from 'fastify';
import {
  cancelJob,
  fleetStatus,
  gatewayError,
  GONE_DISPATCHER_MEMORY_MS,
  isQueueJobState,
  readDispatchers,
  DEFAULT_JOB_LIMIT,
  type QueueInspector,
  type QueueJobState,
} from '@infergate/shared';
import type { IngressContext, OperatorAccess } from '../context.js';

/** Jobs listed when no state is asked for: everything not yet finished. */
const LIVE_STATES: readonly QueueJobState[] = ['waiting', 'prioritized', 'delayed', 'active'];

interface ModelParams {
  readonly model: string;
}

/**
 * The operator's JSON API, under `/admin/api`. Models are the ones this
 * ingress routes to (the registry), so a typo never creates a queue.
 */
export async function adminApi(app: FastifyInstance, ctx: IngressContext, operator: OperatorAccess, inspector: QueueInspector): Promise<void> {
  const { names, registry } = ctx;
  const { commands } = operator;
  const knownModel = (model: string): string => {
    if (!registry.knownModels.has(model)) throw gatewayError('model_not_found', `No dispatcher serves the model '${model}'.`, { param: 'model' });
    return model;
  };

  app.get('/status', async () => fleetStatus(inspector, commands, names, registry.knownModels));

  app.get('/queues', async () => ({ data: await inspector.summaries(registry.knownModels) }));

  app.get<{ Params: ModelParams }>('/queues/:model', async (request) => inspector.summary(knownModel(request.params.model)));

  app.get<{ Params: ModelParams; Querystring: { state?: string; limit?: string } }>('/queues/:model/jobs', async (request) => {
    const model = knownModel(request.params.model);
    const { state, limit } = request.query;
    const states = state === undefined || state === '' ? LIVE_STATES : state.split(',').map((s) => s.trim());
    for (const s of states) {
      if (!isQueueJobState(s)) throw gatewayError('invalid_parameter', `Unknown job state '${s}'.`, { param: 'state' });
    }
    return { data: await inspector.jobs(model, states as QueueJobState[], limit === undefined ? DEFAULT_JOB_LIMIT : Number(limit)) };
  });

  app.post<{ Params: ModelParams }>('/queues/:model/pause', async (request) => inspector.setPaused(knownModel(request.params.model), true));
  app.post<{ Params: ModelParams }>('/queues/:model/resume', async (request) => inspector.setPaused(knownModel(request.params.model), false));

  app.post<{ Params: { id: string } }>('/jobs/:id/cancel', async (request) =>
    cancelJob(inspector, commands, names, request.params.id, registry.knownModels),
  );

  app.get('/dispatchers', async () => ({ data: await readDispatchers(commands, names, GONE_DISPATCHER_MEMORY_MS) }));
}
