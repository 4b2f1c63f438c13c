import type { FastifyInstance } from 'fastify';
import fastifyCors from '@fastify/cors';
import { corsEnabled, corsOriginAllowed, type CorsOrigins } from '@infergate/shared';

/** How long a browser may reuse a preflight answer; browsers cap it lower (Chromium: 2 h). */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** Every method a client-API route answers; the browser asks before any non-simple one. */
const METHODS = 'GET, HEAD, POST';

/**
 * CORS for the scope it is registered in, registered before the credential
 * hook: a preflight (which browsers send without credentials) is answered
 * here, 204 without authentication; the actual request is still
 * authenticated and carries the allow-origin header on every answer,
 * errors included, so the page can read why it failed. Allowed request
 * headers are echoed from the preflight, since `*` would not cover
 * `Authorization`. Nothing is registered when CORS_ORIGINS is empty.
 */
export async function registerCors(app: FastifyInstance, origins: CorsOrigins): Promise<void> {
  if (!corsEnabled(origins)) return;
  await app.register(fastifyCors, {
    origin: (origin, callback) => callback(null, corsOriginAllowed(origins, origin)),
    methods: METHODS,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    strictPreflight: true,
  });
  // Relayed answers are written to the raw response (the reply is hijacked),
  // where headers held by Fastify's reply would never arrive.
  app.addHook('onRequest', async (_request, reply) => {
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined && (name.startsWith('access-control-') || name === 'vary')) reply.raw.setHeader(name, value);
    }
  });
}
