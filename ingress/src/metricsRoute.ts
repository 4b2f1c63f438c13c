import type { FastifyInstance } from 'fastify';
import { ConfigError } from '@infergate/shared';
import { AdminKey } from './admin/adminKey.js';
import type { IngressContext } from './context.js';

/**
 * `GET /metrics`, and the hook that counts every answer the relay did not
 * (the relay counts its own when a request settles). Registered on the root
 * instance so the hook sees every route.
 */
export async function metricsRoutes(app: FastifyInstance, ctx: IngressContext): Promise<void> {
  const { metrics, config } = ctx;
  app.addHook('onResponse', async (request, reply) => metrics.responseSent(request, reply));
  let onRequest;
  if (config.METRICS_REQUIRE_ADMIN_KEY) {
    if (config.ADMIN_API_KEY === undefined) throw new ConfigError(['METRICS_REQUIRE_ADMIN_KEY: needs ADMIN_API_KEY to be set']);
    onRequest = new AdminKey(config.ADMIN_API_KEY).guard();
  }
  app.get('/metrics', { ...(onRequest ? { onRequest } : {}) }, async (_request, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
