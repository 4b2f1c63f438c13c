import type { FastifyInstance } from 'fastify';
import type { Authenticator } from './authenticator.js';

/** Gives every request its `principal` (null until authenticated); on the root instance. */
export function decoratePrincipal(app: FastifyInstance): void {
  app.decorateRequest('principal', null);
}

/**
 * Authenticates every request of the scope it is registered in, in
 * `onRequest`, before its body is read, so an unauthenticated client cannot
 * make the ingress buffer a body. Only the client API's scope (whose
 * not-found handler answers unknown paths) registers it: probes answer without credentials, the
 * admin and metrics scopes check the admin key instead.
 */
export function registerAuth(app: FastifyInstance, authenticator: Authenticator): void {
  if (!authenticator.required) return;
  app.addHook('onRequest', async (request) => {
    request.principal = await authenticator.authenticate(request.headers);
  });
}
