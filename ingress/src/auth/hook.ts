import type { FastifyInstance } from 'fastify';
import type { Authenticator } from './authenticator.js';
import { isSelfGuardedPath, pathOf, PROBE_PATHS } from './paths.js';

/**
 * Authenticates every request in `onRequest`, before its body is read, so
 * an unauthenticated client cannot make the ingress buffer a body. Probes
 * and self-guarded routes are left alone.
 */
export function registerAuth(app: FastifyInstance, authenticator: Authenticator): void {
  app.decorateRequest('principal', null);
  if (!authenticator.required) return;
  app.addHook('onRequest', async (request) => {
    const path = pathOf(request.url);
    if (PROBE_PATHS.has(path) || isSelfGuardedPath(path)) return;
    request.principal = await authenticator.authenticate(request.headers);
  });
}
