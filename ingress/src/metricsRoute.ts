import type { FastifyInstance } from 'fastify';
import { AdminKey } from './admin/adminKey.js';
import type { IngressContext } from './context.js';

/**
 * Counts every answer the relay did not (the relay counts its own when a
 * request settles). On the root instance, so the hook sees every route.
 */
export function countResponses(app: FastifyInstance, ctx: IngressContext): void {
  app.addHook('onResponse', async (request, reply) => ctx.metrics.responseSent(request, reply));
}

/** `GET /metrics`, in its own scope: behind the admin key when METRICS_REQUIRE_ADMIN_KEY is set. */
export async function metricsRoutes(app: FastifyInstance, ctx: IngressContext): Promise<void> {
  const { metrics, config } = ctx;
  // The config schema refuses METRICS_REQUIRE_ADMIN_KEY without ADMIN_API_KEY;
  // were it bypassed, an empty key matches no request, so the guard stays shut.
  if (config.METRICS_REQUIRE_ADMIN_KEY) app.addHook('onRequest', new AdminKey(config.ADMIN_API_KEY ?? '').guard());
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
