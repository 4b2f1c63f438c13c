import type { FastifyInstance } from 'fastify';
import { gatewayError, usageFilterOf } from '@infergate/shared';
import type { IngressContext } from '../context.js';

/**
 * Self-service usage, `GET /v1/usage[?model=&since=]`: a client key (or JWT
 * tenant) sees its own records and nobody else's, whatever `key` it names.
 * Registered inside the client API, behind its credentials.
 */
export async function usageRoute(app: FastifyInstance, ctx: Pick<IngressContext, 'usage'>): Promise<void> {
  app.get<{ Querystring: Record<string, unknown> }>('/v1/usage', async (request) => {
    const { principal } = request;
    // An open ingress knows nobody: there is no "own" usage to show, and everybody's is for the admin API.
    if (!principal) throw gatewayError('forbidden', 'Usage is kept per API key or tenant; this ingress runs without either.');
    const { model, since } = usageFilterOf(request.query);
    return ctx.usage.read({ key: `${principal.kind}:${principal.id}`, ...(model === undefined ? {} : { model }), ...(since === undefined ? {} : { since }) });
  });
}
