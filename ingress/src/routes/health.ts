import type { FastifyInstance } from 'fastify';
import type { DispatcherState } from '@infergate/shared';
import type { IngressContext } from '../context.js';
import { registerForwardTargetGuard } from '../limits/index.js';
import { modelList } from '../modelList.js';

function backendDetail(d: DispatcherState) {
  return {
    backend: d.engineUrl,
    dispatcher: d.id,
    engine_kind: d.engineKind,
    status: d.ready && d.blockedBy === null ? 'ok' : d.ready ? 'busy' : 'unavailable',
    ready: d.ready,
    models: d.models,
    slots_total: d.slots.total,
    slots_busy: d.slots.busy,
    slots_free: d.slots.free,
    in_flight: d.inFlight,
    outside_load: d.outsideLoad,
    blocked_by: d.blockedBy,
    last_error: d.lastError,
    last_heartbeat: d.updatedAt / 1000,
    prefill_ms_per_token: d.prefillMsPerToken ?? null,
  };
}

/**
 * The old proxy's `/health` shape, answered from the registry snapshot (no
 * engine call on the request path), and the orchestrator probes. A plugin of
 * its own: kubelets and load balancers call these without credentials, so
 * only the request-target guard is hooked here.
 */
export async function probeRoutes(app: FastifyInstance, ctx: IngressContext): Promise<void> {
  registerForwardTargetGuard(app);
  app.get('/health', async (_request, reply) => {
    const live = ctx.registry.live;
    const available = live.filter((d) => d.ready && !d.draining).map((d) => d.engineUrl);
    const status = available.length === 0 ? 'unavailable' : available.length === live.length ? 'ok' : 'degraded';
    reply.code(available.length > 0 ? 200 : 503);
    return {
      status,
      available_backends: available,
      total_backends: live.length,
      timestamp: Date.now() / 1000,
      details: live.map(backendDetail),
    };
  });

  app.get('/livez', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const checks = {
      redis: ctx.redisReady(),
      reply_channel: ctx.router.ready,
      registry: ctx.registry.fresh,
      draining: ctx.draining,
    };
    const ready = checks.redis && checks.reply_channel && checks.registry && !checks.draining;
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not ready', checks };
  });

}

/** The aggregated `GET /v1/models` of the client API: the engines' own cards, merged (see modelList). */
export async function modelsRoute(app: FastifyInstance, ctx: IngressContext): Promise<void> {
  app.get('/v1/models', async () => ({ object: 'list', data: modelList(ctx.registry.live, ctx.registry.knownModels) }));
}
